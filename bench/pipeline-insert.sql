-- bench/pipeline.sh: the ceiling -- a single-row insert, one per transaction.
INSERT INTO bench_rows (v) VALUES ('x');

-- wrk script: every request registers a new, unique user.
-- "tid" is a global on purpose: setup() sets it in each thread's own state.
local counter = 0
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  run = tostring(os.time()) .. tostring(math.random(100000, 999999))
end

function request()
  counter = counter + 1
  local name = string.format("b%s_%d_%d", run, tid, counter)
  local body = string.format(
    '{"username":"%s","email":"%s@bench.example.com","password":"BenchPassword!42","confirmPassword":"BenchPassword!42"}',
    name, name)
  return wrk.format(nil, "/api/registration/register", nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end

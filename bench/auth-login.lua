-- wrk script for bench/auth.sh: POST /api/auth/login, cycling through the
-- seeded users bench1..benchN (N = the first script argument).
local n = 0

function init(args)
  users = tonumber(args[1] or "64")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format('{"usernameOrEmail":"bench%d","password":"BenchPassword!42"}',
    n % users + 1)
  return wrk.format(nil, "/api/auth/login", nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end

-- wrk script for bench/auth.sh: POST /api/auth/refresh along one token
-- chain per connection.  Run with as many threads as connections (one
-- connection each), so each thread presents the token its last answer
-- gave.  The first tokens come from the file named by the first argument,
-- one per line, line i for thread i.
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  local i = 0
  for line in io.lines(args[1]) do
    i = i + 1
    if i == tid then token = line end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  return wrk.format(nil, "/api/auth/refresh", nil, '{"refreshToken":"' .. token .. '"}')
end

function response(status, headers, body)
  local t = body:match('"refreshToken":"([A-Za-z0-9_-]+)"')
  if status == 200 and t then token = t end
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end

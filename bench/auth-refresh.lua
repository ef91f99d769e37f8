-- wrk script for bench/auth.sh: POST /api/auth/refresh, each request
-- presenting a token that no other request has presented, each answer
-- giving the next one.  Arguments: a file of first tokens, one per line,
-- and the number of wrk threads: thread t takes lines t, t + threads, ...
-- Give a thread one token more than its connections: wrk asks for one
-- request more than it sends.
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
end

function init(args)
  local threads, i = tonumber(args[2]), 0
  tokens = {}
  for line in io.lines(args[1]) do
    if i % threads == tid - 1 then table.insert(tokens, line) end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  -- none left would be a lost answer: "-" is refused and counted non-2xx
  local t = tokens and table.remove(tokens) or "-"
  return wrk.format(nil, "/api/auth/refresh", nil, '{"refreshToken":"' .. t .. '"}')
end

function response(status, headers, body)
  local t = body:match('"refreshToken":"([A-Za-z0-9_-]+)"')
  if status == 200 and t then table.insert(tokens, t) end
end

function done(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end

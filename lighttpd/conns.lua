-- lighttpd-conns.lua: answer 429 to a request whose address holds more than
-- max_conns open connections to this server (lighttpd limits.conf runs it
-- with mod_magnet before any route).  Counted: every connection lighttpd
-- has accepted, including those still reading their headers.
local max_conns = 64

local r = lighty.r
local addr = r.req_attr["request.remote-addr"]
local n = 0
for other in lighty.server.irequests() do
	if other.req_attr["request.remote-addr"] == addr then
		n = n + 1
		if n > max_conns then
			r.resp_header["Content-Type"] = "application/json"
			r.resp_header["Cache-Control"] = "no-store"
			r.resp_header["Retry-After"] = "10"
			r.resp_header["Connection"] = "close"
			r.resp_body.set({ '{"success":false,"error":"too_many_connections",'
				.. '"message":"Too many connections from this address.",'
				.. '"errors":[{"field":null,"code":"too_many_connections",'
				.. '"message":"Too many connections from this address."}]}' })
			return 429
		end
	end
end
return 0

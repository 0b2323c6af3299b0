-- Governed reads: requests rotate over the analytics clients' credentials.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local common = require("common")
local headers, next = {}, 0

function init(args)
  headers = common.list(args[1])
end

function request()
  next = next % #headers + 1
  return wrk.format("GET", "/api/v1/purposes/personal-dashboard/records?limit=50", { ["Authorization"] = headers[next] })
end

done = common.report("GET /api/v1/purposes/{id}/records (page of 50)")

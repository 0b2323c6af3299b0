-- xAPI ingest: each thread is one source (its Authorization header), posting batches of
-- statements by random demo students with fresh ids.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local common = require("common")
local threads, batch, students = {}, 10, 0
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  local headers = common.list(args[1])
  students = tonumber(args[2])
  wrk.method = "POST"
  wrk.headers["Authorization"] = headers[((index or 1) - 1) % #headers + 1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Experience-API-Version"] = "1.0.3"
  math.randomseed(os.time() + (index or 1) * 7919)
end

local function uuid()
  counter = counter + 1
  return string.format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0xffffffff), index or 1, counter % 0x1000,
    math.random(0, 0xfff), counter)
end

function request()
  local statements = {}
  for _ = 1, batch do
    local login = string.format("s%04d", math.random(1, students))
    table.insert(statements, string.format(
      '{"id":"%s","timestamp":"2026-03-%02dT10:00:00Z","actor":{"account":{"homePage":"https://lms.hogeschool-demo.example","name":"%s"}},' ..
      '"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced"},"object":{"id":"https://lms.hogeschool-demo.example/course/c01/activity/%d",' ..
      '"definition":{"type":"http://adlnet.gov/expapi/activities/lesson"}},"context":{"contextActivities":{"parent":[{"id":"https://lms.hogeschool-demo.example/course/c01"}]}}}',
      uuid(), math.random(1, 28), login, math.random(1, 40)))
  end
  return wrk.format(nil, "/xapi/statements", nil, "[" .. table.concat(statements, ",") .. "]")
end

done = common.report("POST /xapi/statements (10 statements)")

-- Students changing their choice: each thread (one connection) owns some students and
-- toggles their objection, so every request is a valid change.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
local common = require("common")
local threads = {}
local mine, objected, turn = {}, {}, 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
  thread:set("count", 0)
end

function init(args)
  local tokens = common.list(args[1])
  local total = tonumber(args[2])
  for i, token in ipairs(tokens) do
    if (i - 1) % total == (index - 1) then table.insert(mine, token) end
  end
  wrk.method = "PUT"
end

-- A student's state flips only when the server confirms the change (wrk may build a
-- request it never sends), and the next student gets a turn only then.
local sent

function request()
  if sent == nil then turn = turn % #mine + 1 end
  sent = turn
  local event = objected[turn] and "objection_lifted" or "objected"
  -- Headers given here replace wrk.headers, so the content type is named again.
  local headers = { ["Authorization"] = "Bearer " .. mine[turn], ["Content-Type"] = "application/json" }
  return wrk.format(nil, "/api/v1/me/consents/personal-dashboard", headers, '{"event":"' .. event .. '"}')
end

done = common.report("PUT /api/v1/me/consents/{purpose}")

function response(status, headers, body)
  if status < 300 then
    objected[sent] = not objected[sent]
  else
    io.stderr:write("refused: " .. status .. " " .. body .. "\n")
  end
  sent = nil
end

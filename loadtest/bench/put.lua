-- wrk script: PUT 1 KiB bodies over 1,000 names in turn (wrk-0 .. wrk-999).
--   wrk -t1 -c1000 -d8s --latency -s loadtest/bench/put.lua http://127.0.0.1:PORT
-- (docs/benchmarks.md, "PUT with 1,000 writers").
local counter = 0
local body = string.rep("abcdefghijklmnopqrstuvwxyz", 40):sub(1, 1024)
local headers = { ["Content-Type"] = "application/octet-stream" }
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/api/fileserver/wrk-" .. (counter % 1000), headers, body)
end

-- GET {prefix}{id} for random ids, skipping soft-deleted ones:
--   wrk ... -s random_id.lua URL -- PREFIX N DELETED_EVERY
local prefix, n, skip = "/api/v1/claims/", 100000, 0

function init(args)
  prefix = args[1] or prefix
  n = tonumber(args[2]) or n
  skip = tonumber(args[3]) or 0
  local addr = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + addr % 1000003)
end

function request()
  local id
  repeat
    id = math.random(1, n)
  until skip == 0 or id % skip ~= 0
  return wrk.format("GET", prefix .. id)
end

-- The writes of bench/writes.py, one script in three modes (THREADS: wrk's -t, TAG: the run):
--   wrk ... -s writes.lua URL -- post THREADS TAG SPEAKERS
--   wrk ... -s writes.lua URL -- patch THREADS TAG FILE
--   wrk ... -s writes.lua URL -- mix THREADS TAG SPEAKERS CLAIMS DELETED_EVERY POST_EVERY
-- post:  POST /api/v1/claims, a new claim each request (the statement carries a counter).
-- patch: PATCH /api/v1/claims/{id} with If-Match, each request a different claim. FILE holds
--        "id version" lines; thread i takes lines i, i+THREADS, ... and walks them once; should
--        it run out, it walks them again one version further on.
-- mix:   GET /api/v1/claims/{random live id}, and every POST_EVERY-th request a POST.
-- Every request carries wrk's -H headers (the API key). Answers are counted by status and
-- printed at the end as "status 201 1234" lines.

local threads = {}
local mode, tag = "post", "0"
local speakers, claims, skip, post_every = 3000, 10000, 0, 10
local ids, versions = {}, {}
local pos, pass, counter = 0, 0, 0
statuses = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  local nthreads = tonumber(args[2])
  tag = args[3]
  if mode == "patch" then
    local line_no = 0
    for line in io.lines(args[4]) do
      if line_no % nthreads == index then
        local id, version = line:match("^(%d+) (%d+)$")
        table.insert(ids, id)
        table.insert(versions, tonumber(version))
      end
      line_no = line_no + 1
    end
  else
    speakers = tonumber(args[4])
    claims = tonumber(args[5] or claims)
    skip = tonumber(args[6] or 0)
    post_every = tonumber(args[7] or post_every)
  end
  local addr = tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0
  math.randomseed(os.time() + addr % 1000003 + index)
end

local function headers(extra)
  local h = {}
  for name, value in pairs(wrk.headers) do
    h[name] = value
  end
  for name, value in pairs(extra or {}) do
    h[name] = value
  end
  return h
end

local function post()
  local body = string.format(
    '{"statement":"Bench claim %s-%d-%d: the minister said grain exports rose by %d per cent '
      .. 'last year, the highest since records began.","language":"en","speaker_id":%d,'
      .. '"topics":["economy","grain"],"context":"press conference"}',
    tag, index, counter, counter % 97 + 3, counter % speakers + 1)
  return wrk.format("POST", "/api/v1/claims", headers({["Content-Type"] = "application/json"}),
    body)
end

local function patch()
  pos = pos + 1
  if pos > #ids then
    pos, pass = 1, pass + 1
  end
  local body = string.format('{"context":"bench edit %s-%d-%d"}', tag, index, counter)
  local extra = {
    ["Content-Type"] = "application/json",
    ["If-Match"] = string.format('"v%d"', versions[pos] + pass),
  }
  return wrk.format("PATCH", "/api/v1/claims/" .. ids[pos], headers(extra), body)
end

local function get()
  local id
  repeat
    id = math.random(1, claims)
  until skip == 0 or id % skip ~= 0
  return wrk.format("GET", "/api/v1/claims/" .. id, headers())
end

function request()
  counter = counter + 1
  if mode == "patch" then
    return patch()
  elseif mode == "mix" and counter % post_every ~= 0 then
    return get()
  end
  return post()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
end

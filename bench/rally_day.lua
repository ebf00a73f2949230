-- wrk script of bench/bench_rally_day.py: a day of action's mix of public reads and sign-ups.
--
-- One connection per wrk thread (-t N -c N), so each answer belongs to the request sent just
-- before it on that thread. Each thread writes a line per request ("q", its kind and, for a
-- sign-up, its e-mail) and per answer ("a", the status, the proxy's cache status and the time
-- taken) to a file of its own, $RALLY_DAY_OUT.<thread>; the bench pairs them up. A request
-- followed by another request got no answer (its connection broke); the last one may still
-- have been waiting when the run ended. (wrk's thread:get and done() crashed wrk 4.1 now and
-- then: files written as the run goes need neither.)
-- Arguments: the plan file (written by the bench), the run's tag (in every e-mail), the origin
-- browsers would name (Host and Origin headers).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } rally_day_timespec;
int clock_gettime(int clock_id, rally_day_timespec *tp);
]]
local timespec = ffi.new("rally_day_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local threads = 0

function setup(thread) -- in wrk's main thread, once per thread
  threads = threads + 1
  thread:set("id", threads)
end

local paths, choices, total = {}, {}, 0
local signup_rallies = {}
local tag, origin, out
local sequence, started = 0, 0
local get_headers, post_headers
-- wrk builds the first thread's first request once to check it, and never sends it.
local checking = false

function init(args)
  local plan, host
  plan, tag, origin = args[1], args[2], args[3]
  host = origin:match("^%a+://(.+)$")
  math.randomseed(id * 7919 + os.time())
  checking = id == 1
  for line in io.lines(plan) do
    local kind, value, weight = line:match("^(%S+)\t([^\t]+)\t?(%d*)$")
    if kind == "weight" then
      total = total + tonumber(weight)
      table.insert(choices, { kind = value, upto = total })
    elseif kind == "signup" then
      table.insert(signup_rallies, value)
    else
      paths[kind] = paths[kind] or {}
      table.insert(paths[kind], value)
    end
  end
  get_headers = { Host = host, ["Accept-Encoding"] = "gzip" }
  post_headers = {
    Host = host,
    Origin = origin,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  out = assert(io.open(os.getenv("RALLY_DAY_OUT") .. "." .. id, "w"))
  out:setvbuf("full", 65536)
end

local function pick()
  local roll = math.random() * total
  for _, choice in ipairs(choices) do
    if roll < choice.upto then
      return choice.kind
    end
  end
  return choices[#choices].kind
end

function request()
  local kind, formatted, email = pick(), nil, ""
  if kind == "signup" then
    sequence = sequence + 1
    email = tag .. "-" .. id .. "-" .. sequence .. "@example.org"
    local rally = signup_rallies[math.random(#signup_rallies)]
    local body = "name=Supporter&email=" .. email:gsub("@", "%%40")
    post_headers["Referer"] = origin .. "/rallies/" .. rally
    formatted = wrk.format("POST", "/rallies/" .. rally .. "/signup", post_headers, body)
  else
    local list = paths[kind]
    formatted = wrk.format("GET", list[math.random(#list)], get_headers)
  end
  if checking then
    checking = false
  else
    out:write("q\t", kind, "\t", email, "\n")
  end
  started = now_us()
  return formatted
end

function response(status, headers, body)
  out:write("a\t", status, "\t", headers["X-Cache-Status"] or "-", "\t", now_us() - started, "\n")
end

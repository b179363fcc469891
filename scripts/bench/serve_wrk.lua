-- wrk script of scripts/bench/serve.sh: POST /predict with one text per request, the texts
-- taken in turn from a file of JSON bodies (one per line; wrk's first script argument).
local bodies = {}
local next_body = 0

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  -- Threads start at different texts.
  next_body = math.random(#bodies) - 1
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/predict", { ["Content-Type"] = "application/json" }, bodies[next_body])
end

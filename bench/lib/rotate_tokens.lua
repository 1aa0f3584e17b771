-- wrk script: every request carries the next token of $TOKENS (one per line), so no token is
-- seen twice while the file lasts: the gateway's uncached validation path.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end

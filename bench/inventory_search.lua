-- wrk script for bench/inventory.sh: a different search word per request.
--   wrk ... -s bench/inventory_search.lua URL -- PATH_PREFIX WORDS_FILE
-- PATH_PREFIX ends where the word goes, e.g. "/api/v1/assets?limit=50&q="; WORDS_FILE holds
-- one URL-safe word per line. Each thread starts at its own place in the list.

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

local prefix, words, i = nil, {}, 0

function init(args)
  prefix = args[1]
  for line in io.lines(args[2]) do
    if line ~= "" then
      words[#words + 1] = line
    end
  end
  assert(#words > 0, "no words in " .. args[2])
  i = ((thread_no or 1) - 1) * 7919 % #words
end

function request()
  i = i % #words + 1
  return wrk.format(nil, prefix .. words[i])
end

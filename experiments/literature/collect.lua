-- Collect of the literature study: reads every done run directory, lets
-- each section write its part of the report (tables, plots, claims), and
-- writes report.md, report.html, claims.csv and runs.csv.
local experiment = require "posbench.experiment"
local measure = require "literature.measure"

-- Eval records, chance per series and frequency usage per seed, from disk
-- (in plan order, so nothing depends on which run finished first).
local function load(M, R, plan)
  local rows, chance, freq, run_rows = {}, {}, {}, {}
  for _, e in ipairs(plan) do
    if e.done and e.experiment == M.name then
      local run = R:load(e.name)
      local c, s = e.config, run.summary or {}
      local seed = c.seed or c.base.seed
      chance[c.series] = s.chance
      local info = s.run_info or {}
      run_rows[#run_rows + 1] = { run = e.name, series = c.series, seed = seed, final_loss = s.final_loss,
                                  wall_seconds = info.wall_seconds, train_seconds = s.train_seconds }
      local f_rows = {}
      for _, rec in ipairs(run.metrics) do
        if rec.kind == "eval" then
          rec.seed = seed
          rows[#rows + 1] = rec
          chance[rec.series] = chance[rec.series] or s.chance
        elseif rec.kind == "freq" then
          f_rows[#f_rows + 1] = rec
        end
      end
      if #f_rows > 0 then
        -- One row per layer x head; ratio: lowest quarter of frequencies
        -- (largest k) over the highest quarter, averaged over heads.
        local mat, by_lh = {}, {}
        for _, r in ipairs(f_rows) do
          local key = r.layer * 1000 + r.head
          if not by_lh[key] then by_lh[key] = {}; mat[#mat + 1] = by_lh[key] end
          by_lh[key][r.pair + 1] = r.usage
        end
        local hi, lo = 0, 0
        for _, u in ipairs(mat) do
          local q = math.max(1, #u // 4)
          for k = 1, q do hi, lo = hi + u[k], lo + u[#u - k + 1] end
        end
        freq[c.series] = freq[c.series] or {}
        table.insert(freq[c.series], { matrix = mat, ratio = hi > 0 and lo / hi or 0 / 0 })
      end
    end
  end
  return rows, chance, freq, run_rows
end

local MARK = { reproduced = "confirmed", ["not reproduced"] = "contradicted", inconclusive = "inconclusive" }

local function shown_config(cfg)
  local keys = {}
  for k in pairs(cfg) do
    if k ~= "root" and k ~= "threads" and k:sub(1, 1) ~= "_" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = cfg[k]
    out[#out + 1] = k .. "=" .. (type(v) == "table" and table.concat(v, ",") or tostring(v))
  end
  return table.concat(out, " ")
end

return function(M)
  return function(cfg, R, plan)
    local t0 = pb.now()
    local rows, chance, freq, run_rows = load(M, R, plan)
    local X = measure.new(cfg.level, rows)
    local claims = {}
    local rep = pb.report.new("Reproducing the literature on positional encodings")
    rep:para(string.format("Scale `%s`, %d seeds per configuration, %d runs. Each section states the " ..
      "paper's protocol, what posbench changes to fit a small CPU budget, the paper's finding, " ..
      "posbench's measurement (mean [95%% Student-t interval] over seeds, and the max over seeds, " ..
      "the statistic of papers that report their best seed) and a verdict: **reproduced** when " ..
      "the intervals separate in the paper's direction, **not reproduced** when they separate the " ..
      "other way (or, for a flat or at-chance claim, when the interval excludes it), " ..
      "**inconclusive** when they overlap. Claims render as Confirmed / Contradicted / " ..
      "Inconclusive below. Nothing is tuned on the evaluation lengths: every encoding uses the " ..
      "same learning rate, steps and model, given in the configuration.", cfg.scale, cfg.seeds, #run_rows))
    local summary_at = #rep.blocks + 1
    local figures = 0
    for _, id in ipairs(cfg.sections) do
      local sec = M.sections[id]
      local paper = sec.title:match("^(.-):") or sec.title
      rep:section(sec.title)
      rep:para("**Protocol.** " .. sec.protocol)
      rep:para("**posbench.** " .. sec.changes)
      rep:para("**Published.** " .. sec.published)
      local S = { cfg = cfg, X = X, R = R, rep = rep, chance = chance, freq = freq }
      -- A comparison is only read when the models it compares (c.needs, a
      -- list of series) learned their task in distribution.
      function S.claim(c)
        c.paper, c.section = paper, id
        local failed = {}
        for _, s in ipairs(c.needs or {}) do
          local ok, v = X:learned(s, cfg)
          if not ok then
            failed[#failed + 1] = string.format("%s (%s)", s, v and string.format("%.3g", v) or "n/a")
          end
        end
        if #failed > 0 then
          c.measured = c.measured .. "; not learned in distribution: " .. table.concat(failed, ", ")
          c.verdict = "inconclusive"
        end
        claims[#claims + 1] = c
        rep:claim { text = paper .. ": " .. c.claim .. " (" .. c.verdict .. ")", verdict = MARK[c.verdict],
                    evidence = "published: " .. c.published .. ". Measured: " .. c.measured .. ".",
                    section = "literature" }
      end
      function S.figure(png, caption)
        if png then figures = figures + 1; rep:figure(png, caption) end
      end
      sec.report(S)
    end
    -- The claims table goes right after the introduction.
    local tail = {}
    for i = summary_at, #rep.blocks do tail[#tail + 1] = rep.blocks[i] end
    for i = #rep.blocks, summary_at, -1 do rep.blocks[i] = nil end
    local counts = { reproduced = 0, ["not reproduced"] = 0, inconclusive = 0 }
    for _, c in ipairs(claims) do counts[c.verdict] = counts[c.verdict] + 1 end
    rep:section("Claims")
    rep:para(string.format("%d claims: %d reproduced, %d not reproduced, %d inconclusive (claims.csv).",
      #claims, counts.reproduced, counts["not reproduced"], counts.inconclusive))
    rep:table(claims, { "paper", "claim", "published", "measured", "verdict" })
    for _, b in ipairs(tail) do rep.blocks[#rep.blocks + 1] = b end
    rep:section("What was run")
    rep:para("Configuration (every encoding and section uses these; no other learning rates, " ..
      "seeds or sizes were tried for this report): `" .. shown_config(cfg) .. "`.")
    rep:list {
      "`claims.csv`: paper, claim, published, measured, verdict, section.",
      "`runs.csv`: one row per run (series, seed, final training loss, wall seconds).",
      "`plots/`: the figures above (PNG and SVG, gnuplot script and data).",
      "one directory per run with config.json, metrics.jsonl and summary.json.",
    }
    R:csv("claims.csv", claims, { "paper", "claim", "published", "measured", "verdict", "section" })
    R:csv("runs.csv", run_rows, { "run", "series", "seed", "final_loss", "train_seconds", "wall_seconds" })
    rep:write(R:path("report.md"))
    rep:write_html(R:path("report.html"))
    local elapsed = pb.now() - t0
    experiment.sayer("literature")("collected in %.1f s: %d claims (%d reproduced, %d not reproduced, " ..
      "%d inconclusive), %d figures: %s", elapsed, #claims, counts.reproduced, counts["not reproduced"],
      counts.inconclusive, figures, R:path("report.md"))
    return { dir = R.dir, claims = claims, counts = counts, seconds = elapsed, report = rep }
  end
end

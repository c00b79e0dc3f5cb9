-- pin-pcrs.lua: fail the build when the measured PCRs differ from pinned values.
--
-- The pinned file lives next to the manifest.  It is the JSON `enclaver build`
-- prints ({"Measurements": {"PCR0": "...", ...}}) or a bare {"PCR0": "...", ...}
-- object; every PCR it names (PCR0, PCR1, PCR2, PCR8) must match.
-- File name: build parameter pin-pcrs-file (--set-param pin-pcrs-file=prod.json),
-- default pcrs.json.
--
--   hooks:
--     - pin-pcrs.lua

local PCRS = { "PCR0", "PCR1", "PCR2", "PCR8" }

enclaver.on("measured", function(ctx)
  local name = ctx.param("pin-pcrs-file") or "pcrs.json"
  local text, err = enclaver.read_file(name)
  if not text then
    ctx.fail("pin-pcrs: cannot read the pinned PCRs: " .. err)
  end
  local doc, jerr = enclaver.json.decode(text)
  if type(doc) ~= "table" then
    ctx.fail("pin-pcrs: " .. name .. " is not a JSON object" .. (jerr and (": " .. jerr) or ""))
  end
  local pinned = type(doc.Measurements) == "table" and doc.Measurements or doc
  local got = ctx.measurements
  if not got then
    ctx.fail("pin-pcrs: the build has no measurements yet")
  end

  local checked, bad = 0, {}
  for _, k in ipairs(PCRS) do
    local want = pinned[k]
    if want ~= nil then
      checked = checked + 1
      if type(want) ~= "string" or want:lower() ~= got[k] then
        bad[#bad + 1] = string.format("%s pinned %s, measured %s", k, tostring(want), got[k] or "(none)")
      end
    end
  end
  if checked == 0 then
    ctx.fail("pin-pcrs: " .. name .. " pins no PCR (expected keys PCR0, PCR1, PCR2, PCR8)")
  end
  if #bad > 0 then
    ctx.fail("pin-pcrs: measurements differ from " .. name .. ": " .. table.concat(bad, "; "))
  end
  ctx.log("info", string.format("pin-pcrs: %d PCR%s match %s", checked, checked == 1 and "" or "s", name))
end)

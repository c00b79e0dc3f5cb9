-- ci-outputs.lua: publish the measurements for CI.
--
-- Writes two build outputs into the output directory (--output-dir, default the
-- manifest's directory), renamed into place only when the whole build succeeds:
--   pcrs.json          {"Measurements": {...}} as `enclaver build` prints it
--   github-output.txt  pcr0=..., pcr1=..., pcr2=..., [pcr8=...], image-digest=...
--                      (append it to $GITHUB_OUTPUT in a workflow step)
-- Names can be changed with the build parameters ci-outputs-json / ci-outputs-env.

enclaver.on("measured", function(ctx)
  local m = ctx.measurements
  if not m then
    ctx.fail("ci-outputs: the build has no measurements")
  end
  local doc = { Measurements = { HashAlgorithm = "Sha384 { ... }" } }
  local lines = {}
  for _, k in ipairs({ "PCR0", "PCR1", "PCR2", "PCR8" }) do
    if m[k] then
      doc.Measurements[k] = m[k]
      lines[#lines + 1] = k:lower() .. "=" .. m[k]
    end
  end
  local image = ctx.image
  if image and image.digest then
    lines[#lines + 1] = "image-digest=" .. image.digest
  end
  local json_name = ctx.param("ci-outputs-json") or "pcrs.json"
  local env_name = ctx.param("ci-outputs-env") or "github-output.txt"
  local p1 = enclaver.write_output(json_name, enclaver.json.encode(doc, { indent = 2 }) .. "\n")
  local p2 = enclaver.write_output(env_name, table.concat(lines, "\n") .. "\n")
  ctx.log("info", "ci-outputs: will write " .. p1 .. " and " .. p2)
end)

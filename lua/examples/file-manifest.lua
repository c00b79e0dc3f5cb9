-- file-manifest.lua: a Lua *stage* that writes a manifest of the rootfs
-- (path, type, mode, owner, size, sha256, link target) as a build artifact.
--
--   pipeline:
--     - fetch
--     - flatten
--     - lua: file-manifest.lua
--       options:
--         output: files.json     # default file-manifest.json
--         format: json           # json (default) or text ("sha256  size  mode  path")
--     - inject
--     - measure
--     - emit-eif

function run(ctx, options)
  local fs = ctx.rootfs
  if not fs then
    ctx.fail("file-manifest: no rootfs yet (put this stage after flatten)")
  end
  local format = options.format or "json"
  if format ~= "json" and format ~= "text" then
    ctx.fail("file-manifest: option format must be json or text, not " .. format)
  end
  local output = options.output or ("file-manifest." .. (format == "json" and "json" or "txt"))

  local entries, lines = {}, {}
  fs:walk(function(path, st)
    local e = { path = path, type = st.type, mode = string.format("%04o", st.mode), uid = st.uid, gid = st.gid }
    if st.type == "file" then
      e.size = st.size
      e.sha256 = fs:hash(path, "sha256")
    elseif st.type == "symlink" then
      e.target = st.target
    end
    entries[#entries + 1] = e
    if format == "text" then
      lines[#lines + 1] = string.format("%s  %d  %s  %s%s", e.sha256 or string.rep("-", 64), e.size or 0, e.mode,
        path, e.target and (" -> " .. e.target) or "")
    end
  end)
  local body
  if format == "json" then
    body = enclaver.json.encode({ files = entries, count = #entries }, { indent = 1 }) .. "\n"
  else
    body = table.concat(lines, "\n") .. "\n"
  end
  local path = enclaver.write_output(output, body)
  ctx.log("info", string.format("file-manifest: %d entries -> %s", #entries, path))
end

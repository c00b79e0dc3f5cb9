-- release-stamp.lua: a Lua *stage* of the custom stack.  It writes a small text file
-- into the enclave's rootfs that says what the enclave was built from, so that the
-- application (and the SBOM, which lists it) can tell:
--
--   target=custom-stack:latest
--   source-digest=sha256:...   (the app image's manifest digest)
--
-- Everything in it comes from the manifest and the fetched image (not from where the
-- image lies on the build host), and its mtime is the build's SOURCE_DATE_EPOCH (or 0),
-- so the EIF stays byte-reproducible.
--
--   pipeline:
--     - lua: release-stamp.lua
--       options:
--         path: /etc/enclave-release   # default
function run(ctx, options)
  if not ctx.rootfs then
    ctx.fail("release-stamp: no rootfs yet (put this stage after flatten)")
  end
  local path = options.path or "/etc/enclave-release"
  if path:sub(1, 1) ~= "/" then
    ctx.fail("release-stamp: option path must be absolute, not " .. path)
  end
  local lines = {
    "target=" .. tostring(ctx.manifest.target),
    "source-digest=" .. tostring(ctx.image.digest),
  }
  ctx.rootfs:write(path, table.concat(lines, "\n") .. "\n", { mode = "0644", parents = true })
  ctx.log("info", "wrote " .. path)
end

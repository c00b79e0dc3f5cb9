-- add-ca-bundle.lua: install extra CA certificates into the enclave image.
--
-- Reads a PEM bundle next to the manifest (build parameter ca-bundle, default
-- ca-bundle.pem), appends it to the image's system bundle
-- /etc/ssl/certs/ca-certificates.crt (created when missing), and points
-- SSL_CERT_FILE at it so OpenSSL, curl, Go and Python all find it.

local TARGET = "/etc/ssl/certs/ca-certificates.crt"

enclaver.on("after:flatten", function(ctx)
  local name = ctx.param("ca-bundle") or "ca-bundle.pem"
  local pem, err = enclaver.read_file(name)
  if not pem then
    ctx.fail("add-ca-bundle: " .. err)
  end
  local count = 0
  for _ in pem:gmatch("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-") do
    count = count + 1
  end
  if count == 0 then
    ctx.fail("add-ca-bundle: " .. name .. " holds no PEM certificate")
  end
  if pem:sub(-1) ~= "\n" then
    pem = pem .. "\n"
  end

  local fs = ctx.rootfs
  local bundle = ""
  local st = fs:stat(TARGET, { follow = true })
  if st and st.type == "file" then
    bundle = fs:read(TARGET)
    if bundle ~= "" and bundle:sub(-1) ~= "\n" then
      bundle = bundle .. "\n"
    end
  end
  fs:mkdir("/etc/ssl/certs", { parents = true })
  fs:write(TARGET, bundle .. pem, { mode = "0644" })
  ctx.image.config:setenv("SSL_CERT_FILE", TARGET)
  ctx.log("info", string.format("add-ca-bundle: added %d certificate%s to %s", count, count == 1 and "" or "s",
    TARGET))
end)

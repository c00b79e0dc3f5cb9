-- set-env.lua: change the enclave application's environment, command or user
-- from a JSON file next to the manifest (build parameter set-env-file, default
-- env.json):
--
--   { "env": { "RUST_LOG": "info", "DEBUG": null },   -- null removes a variable
--     "cmd": ["/app/server", "--port", "8000"],      -- optional
--     "workdir": "/app", "user": "1000:1000" }        -- optional
--
-- A bare object of strings ({"RUST_LOG": "info"}) is taken as "env".
-- Runs before inject, while the image config is still writable.

enclaver.on("before:inject", function(ctx)
  local name = ctx.param("set-env-file") or "env.json"
  local text, err = enclaver.read_file(name)
  if not text then
    ctx.fail("set-env: " .. err)
  end
  local doc, jerr = enclaver.json.decode(text)
  if type(doc) ~= "table" then
    ctx.fail("set-env: " .. name .. " is not a JSON object" .. (jerr and (": " .. jerr) or ""))
  end
  if doc.env == nil and doc.cmd == nil and doc.entrypoint == nil and doc.workdir == nil and doc.user == nil then
    doc = { env = doc }
  end
  local config = ctx.image.config
  local names = {}
  for k in pairs(doc.env or {}) do
    names[#names + 1] = k
  end
  table.sort(names) -- apply in a stable order
  for _, k in ipairs(names) do
    local v = doc.env[k]
    if v == enclaver.json.null then
      config:unsetenv(k)
    elseif type(v) == "string" then
      config:setenv(k, v)
    else
      ctx.fail("set-env: " .. name .. ": env." .. k .. " must be a string or null")
    end
  end
  for _, field in ipairs({ "entrypoint", "cmd", "workdir", "user" }) do
    if doc[field] ~= nil then
      config[field] = doc[field] ~= enclaver.json.null and doc[field] or nil
    end
  end
  ctx.log("info", string.format("set-env: applied %s (%d variables)", name, #names))
end)

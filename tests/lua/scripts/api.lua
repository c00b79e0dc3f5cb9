-- API test script for tests/lua/test-lua.c: every check prints one "CHECK" line
-- that the C test turns into a TAP result.
local function check(name, cond, detail)
  if cond then
    print("CHECK ok " .. name)
  else
    print("CHECK not ok " .. name .. (detail and (": " .. tostring(detail)) or ""))
  end
end

local function raises(name, pattern, fn, ...)
  local ok, msg = pcall(fn, ...)
  msg = tostring(msg)
  check(name, not ok and msg:find(pattern, 1, true) ~= nil, ok and "did not raise" or msg)
end

local function eq(name, got, want)
  check(name, got == want, "got " .. tostring(got) .. ", want " .. tostring(want))
end

local function join(t)
  return table.concat(t, ",")
end

local saved_random = math.random(1, 1000000000)
print("RANDOM " .. saved_random)

-- globals and sandbox surface at load time
eq("no io", io, nil)
eq("no os", os, nil)
eq("no require", require, nil)
eq("no debug", debug, nil)
eq("no dofile", dofile, nil)
eq("no loadfile", loadfile, nil)
eq("no package", package, nil)
eq("no coroutine", coroutine, nil)
eq("no string.dump", string.dump, nil)
eq("load text", load("return 1 + 1")(), 2)
do
  local f, err = load("\27Lua\84\0", "bin", "b")
  check("load binary refused", f == nil and tostring(err):find("binary", 1, true) ~= nil, err)
end
raises("randomseed needs a seed", "no clock", math.randomseed)
raises("collectgarbage stop refused", "invalid option", collectgarbage, "stop")
raises("write_output while loading", "while the script loads", enclaver.write_output, "x.txt", "x")
raises("on: bad event", "unknown event", enclaver.on, "sometime", function() end)
raises("on: not a function", "function expected", enclaver.on, "done", 42)

-- enclaver module helpers
eq("sha256", enclaver.sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
eq("sha384", enclaver.sha384("abc"),
  "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
raises("sha256 without data", "bad argument", enclaver.sha256)
eq("json encode sorted", enclaver.json.encode({ b = 1, a = { 1, 2, 3 }, c = "x" }), '{"a":[1,2,3],"b":1,"c":"x"}')
eq("json encode null", enclaver.json.encode({ x = enclaver.json.null }), '{"x":null}')
eq("json encode indent", enclaver.json.encode({ a = true }, { indent = 2 }), '{\n  "a": true\n}')
eq("json encode float", enclaver.json.encode(1.5), "1.5")
raises("json encode function", "cannot encode a function", enclaver.json.encode, print)
raises("json encode nan", "nan", enclaver.json.encode, 0 / 0)
raises("json encode bad utf8", "UTF-8", enclaver.json.encode, "\xff")
raises("json encode mixed keys", "not a sequence", enclaver.json.encode, { 1, 2, x = 3, [true] = 1 })
do
  local cyc = {}
  cyc.self = cyc
  raises("json encode cycle", "nesting", enclaver.json.encode, cyc)
end
do
  local v = enclaver.json.decode('{"a":[1,2,{"b":null}],"n":2.5,"s":"x"}')
  check("json decode", v.a[2] == 2 and v.a[3].b == enclaver.json.null and v.n == 2.5 and v.s == "x")
  local bad, err = enclaver.json.decode("{bad")
  check("json decode error", bad == nil and tostring(err):find("line 1", 1, true) ~= nil, err)
end
do
  local text = enclaver.read_file("data.txt")
  eq("read_file", text, "hello from the manifest directory\n")
  local none, err = enclaver.read_file("missing.txt")
  check("read_file missing", none == nil and tostring(err):find("missing.txt", 1, true) ~= nil, err)
  raises("read_file dotdot", "'..'", enclaver.read_file, "../x")
  raises("read_file absolute outside", "outside the manifest directory", enclaver.read_file, "/etc/hostname")
  raises("read_file empty", "empty", enclaver.read_file, "")
end

enclaver.on("after:fetch", function(ctx, event)
  eq("event argument", event, "after:fetch")
  eq("ctx.event", ctx.event, "after:fetch")
  eq("no rootfs yet", ctx.rootfs, nil)
  eq("no measurements yet", ctx.measurements, nil)
  eq("ctx.error outside error", ctx.error, nil)
  raises("ctx unknown field", "ctx has no field 'nosuch'", function() return ctx.nosuch end)
  raises("ctx read-only", "read-only", function() ctx.image = 1 end)
  eq("ctx.param", ctx.param("custom"), "value")
  eq("ctx.param method call", ctx:param("custom"), "value")
  eq("ctx.param missing", ctx.param("nope"), nil)
  raises("ctx.param bad argument", "bad argument", ctx.param)
  ctx.log("info", "log from a hook")
  ctx:log("debug", "method-call log")
  raises("ctx.log bad level", "invalid option 'loud'", ctx.log, "loud", "x")
  raises("ctx.log missing message", "bad argument", ctx.log, "info")
  check("metatable locked", getmetatable(ctx) == "locked", getmetatable(ctx))
  raises("setmetatable on userdata", "table expected", setmetatable, ctx, {})

  -- manifest: read-only view
  local m = ctx.manifest
  eq("manifest name", m.name, "lua-test")
  check("manifest hooks", #m.hooks == 1 and m.hooks[1]:find("hook.lua", 1, true) ~= nil, m.hooks[1])
  raises("manifest read-only", "read-only", function() m.name = "x" end)
  raises("manifest nested read-only", "read-only", function() m.sources.app = "x" end)
  local n = 0
  for _ in pairs(m) do n = n + 1 end
  check("manifest pairs", n > 3, n)
  check("manifest encodes", enclaver.json.decode(enclaver.json.encode(m)).name == "lua-test")

  -- image
  local img = ctx.image
  eq("image name", img.name, "docker.io/library/test:1")
  eq("image digest", img.digest, "sha256:" .. string.rep("a", 64))
  eq("image platform", img.platform, "linux/amd64")
  eq("image labels", img.labels["org.example"], "1")
  eq("image layers", #img.layers, 0)
  raises("image unknown field", "has no field 'nosuch'", function() return img.nosuch end)
  raises("image read-only", "read-only", function() img.name = "x" end)
  local c = img.config
  eq("config entrypoint", join(c.entrypoint), "/app/server")
  eq("config cmd", join(c.cmd), "--port,8000")
  eq("config env", join(c.env), "PATH=/usr/bin:/bin,LANG=C")
  eq("config workdir", c.workdir, "/app")
  eq("config user", c.user, "app")
  eq("config writable", c.writable, true)
  c:setenv("FOO", "bar")
  eq("setenv/getenv", c:getenv("FOO"), "bar")
  c.setenv("FOO", "baz")
  eq("setenv replaces", c:getenv("FOO"), "baz")
  raises("setenv bad name", "not a valid variable name", c.setenv, c, "A=B", "x")
  raises("setenv newline", "newline", c.setenv, c, "X", "a\nb")
  eq("unsetenv", c:unsetenv("LANG"), true)
  eq("unsetenv missing", c:unsetenv("NOPE"), false)
  eq("getenv missing", c:getenv("NOPE"), nil)
  c.cmd = { "--port", "9000" }
  eq("set cmd", join(c.cmd), "--port,9000")
  raises("set cmd numbers", "not a string", function() c.cmd = { 1, 2 } end)
  raises("set cmd string", "table expected", function() c.cmd = "x" end)
  c.entrypoint = nil
  eq("clear entrypoint", c.entrypoint, nil)
  c.entrypoint = { "/app/server", "-v" }
  c.workdir = "/srv"
  eq("set workdir", c.workdir, "/srv")
  raises("set workdir newline", "newline", function() c.workdir = "a\nb" end)
  c.user = nil
  eq("clear user", c.user, nil)
  raises("set unknown", "cannot set 'nosuch'", function() c.nosuch = 1 end)
  raises("set env bad", "not NAME=value", function() c.env = { "BAD" } end)
  raises("set env map bad", "string values", function() c.env = { A = 1 } end)
  local keep = c.env
  c.env = { Z = "1", A = "2" }
  eq("set env map sorted", join(c.env), "A=2,Z=1")
  c.env = keep
  eq("set env list", join(c.env), "PATH=/usr/bin:/bin,FOO=baz")

  -- output
  local p = enclaver.write_output("api.txt", "written by api.lua\n")
  check("write_output path", p:sub(-12) == "/out/api.txt", p)
  eq("artifact recorded", ctx.artifacts["api.txt"], p)
  raises("write_output twice", "already being written", enclaver.write_output, "api.txt", "x")
  raises("write_output traversal", "not a plain file name", enclaver.write_output, "../x.txt", "x")
  raises("write_output absolute", "not a plain file name", enclaver.write_output, "/tmp/x.txt", "x")
  raises("write_output hidden", "not a plain file name", enclaver.write_output, ".x", "x")
  raises("write_output data", "bad argument #2", enclaver.write_output, "y.txt")
  raises("on from a handler", "while the script loads", enclaver.on, "done", function() end)
end)

local saved_fs
enclaver.on("after:flatten", function(ctx)
  local fs = ctx.rootfs
  saved_fs = fs
  check("rootfs present", fs ~= nil)
  eq("exists", fs:exists("/etc/passwd"), true)
  eq("exists relative", fs:exists("etc/passwd"), true)
  eq("exists missing", fs:exists("/nope"), false)
  raises("exists dotdot", "..", fs.exists, fs, "/etc/../etc/passwd")
  local st = fs:stat("/etc/passwd")
  check("stat file", st.type == "file" and st.size == 26 and st.mode == 420 and st.uid == 0, st.type)
  local ln = fs:stat("/bin")
  check("stat symlink", ln.type == "symlink" and ln.target == "usr/bin", ln.type)
  eq("stat follow", fs:stat("/bin", { follow = true }).type, "dir")
  local none, err = fs:stat("/nope")
  check("stat missing", none == nil and tostring(err):find("nope", 1, true) ~= nil, err)
  raises("stat bad argument", "bad argument", fs.stat, fs, {})
  eq("read", fs:read("/etc/passwd"), "root:x:0:0::/root:/bin/sh\n")
  eq("read through symlink", fs:read("/bin/app"), "#!/bin/sh\n")
  eq("dot call", fs.read("/etc/passwd"), "root:x:0:0::/root:/bin/sh\n")
  raises("read directory", "not a regular file", fs.read, fs, "/etc")
  raises("read missing", "rootfs:read", fs.read, fs, "/nope")
  raises("read NUL", "NUL", fs.read, fs, "/etc\0/passwd")
  eq("list", join(fs:list("/usr/share")), "doc,locale,man")
  eq("list root", join(fs:list()), "app,bin,etc,usr")
  eq("list follows symlink", join(fs:list("/bin")), "app")
  raises("list file", "not a directory", fs.list, fs, "/etc/passwd")
  fs:write("/etc/motd", "hi\n", { mode = "0600", uid = 1, gid = 2 })
  local ms = fs:stat("/etc/motd")
  check("write attrs", ms.mode == 384 and ms.uid == 1 and ms.gid == 2 and ms.size == 3 and ms.mtime == 1700000000,
    ms.mode .. " " .. ms.mtime)
  fs:write("/etc/motd", "replaced\n")
  eq("write replaces", fs:read("/etc/motd"), "replaced\n")
  raises("write directory", "is a directory", fs.write, fs, "/etc", "x")
  raises("write missing parent", "rootfs:write", fs.write, fs, "/new/deep/f", "x")
  fs:write("/new/deep/f", "x", { parents = true })
  eq("write parents", fs:read("/new/deep/f"), "x")
  raises("write bad mode", "not an octal number", fs.write, fs, "/x", "x", { mode = "abc" })
  raises("write mode range", "out of range", fs.write, fs, "/x", "x", { mode = 99999 })
  raises("write bad uid", "out of range", fs.write, fs, "/x", "x", { uid = -1 })
  raises("write dotdot", "..", fs.write, fs, "/../../x", "x")
  fs:mkdir("/srv")
  eq("mkdir", fs:stat("/srv").type, "dir")
  eq("mkdir mode", fs:stat("/srv").mode, 493)
  raises("mkdir exists", "already exists", fs.mkdir, fs, "/srv")
  fs:mkdir("/srv", { parents = true })
  fs:mkdir("/a/b/c", { parents = true, mode = "0700" })
  eq("mkdir parents", fs:stat("/a/b/c").mode, 448)
  fs:symlink("/etc/passwd", "/pw")
  eq("symlink target", fs:stat("/pw").target, "/etc/passwd")
  eq("symlink read", fs:read("/pw"), "root:x:0:0::/root:/bin/sh\n")
  raises("symlink exists", "rootfs:symlink", fs.symlink, fs, "x", "/pw")
  raises("symlink empty", "empty target", fs.symlink, fs, "", "/x")
  fs:chmod("/etc/motd", "0644")
  eq("chmod", fs:stat("/etc/motd").mode, 420)
  fs:chmod("/etc/motd", 384)
  eq("chmod integer", fs:stat("/etc/motd").mode, 384)
  raises("chmod missing", "rootfs:chmod", fs.chmod, fs, "/nope", "0644")
  raises("chmod range", "out of range", fs.chmod, fs, "/etc/motd", 8192)
  fs:chown("/etc/motd", 5, 6)
  check("chown", fs:stat("/etc/motd").uid == 5 and fs:stat("/etc/motd").gid == 6)
  raises("chown bad", "integers", fs.chown, fs, "/etc/motd", "x", 1)
  raises("remove not empty", "not empty", fs.remove, fs, "/usr/share")
  eq("remove recursive", fs:remove("/usr/share/doc", { recursive = true }), true)
  eq("removed", fs:exists("/usr/share/doc"), false)
  raises("remove missing", "rootfs:remove", fs.remove, fs, "/nope")
  eq("remove force", fs:remove("/nope", { force = true }), false)
  raises("remove root", "rootfs:remove", fs.remove, fs, "/", { recursive = true })
  local seen, order_ok = {}, true
  fs:walk(function(path, s)
    seen[#seen + 1] = path
    local parent = path:match("^(.*)/[^/]+$")
    if parent ~= "" and not seen[parent] then order_ok = false end
    seen[path] = s.type
  end)
  check("walk parents first", order_ok and seen["/etc"] == "dir" and seen["/etc/passwd"] == "file", #seen)
  local under = {}
  fs:walk("/usr", function(path) under[#under + 1] = path end)
  check("walk start", #under > 0 and under[1]:sub(1, 5) == "/usr/", under[1])
  local count = 0
  fs:walk(function() count = count + 1 return false end)
  eq("walk stop", count, 1)
  raises("walk callback error", "from walk", fs.walk, fs, function() error("from walk") end)
  raises("walk no function", "bad argument", fs.walk, fs, "/usr")
  eq("hash", fs:hash("/etc/passwd"), enclaver.sha256(fs:read("/etc/passwd")))
  eq("hash sha384", fs:hash("/etc/passwd", "sha384"), enclaver.sha384(fs:read("/etc/passwd")))
  raises("hash bad algorithm", "invalid option 'md5'", fs.hash, fs, "/etc/passwd", "md5")
  raises("rootfs unknown method", "no method 'nosuch'", function() return fs.nosuch end)
  raises("rootfs read-only", "read-only", function() fs.x = 1 end)
end)

enclaver.on("after:inject", function(ctx)
  local c = ctx.image.config
  eq("config frozen flag", c.writable, false)
  raises("config frozen setenv", "read-only once the inject", c.setenv, c, "A", "b")
  raises("config frozen cmd", "read-only once the inject", function() c.cmd = { "x" } end)
  eq("saved rootfs object still works", saved_fs:exists("/etc/motd"), true)
end)

enclaver.on("measured", function(ctx)
  local m = ctx.measurements
  check("measurements", m and #m.PCR0 == 96 and #m.PCR1 == 96 and #m.PCR2 == 96 and m.PCR8 == nil)
  check("measurements hex", m.PCR0:match("^[0-9a-f]+$") ~= nil)
end)

enclaver.on("after:emit-eif", function(ctx)
  local a = ctx.artifacts
  check("artifact eif", a.eif and a.eif:sub(-9) == "/test.eif", a.eif)
end)

enclaver.on("done", function(ctx)
  eq("done event", ctx.event, "done")
  raises("write_output in done", "not available in the 'done' event", enclaver.write_output, "late.txt", "x")
  print("CHECK finished")
end)

-- enclaver.attestation.verify from a hook, over the real Nitro documents of
-- shared/vectors/attestation (copied next to the manifest by tests/lua/test-lua.c):
-- every result is printed as a CHECK line the C side counts.
local function check(ok, what)
  print((ok and "CHECK ok " or "CHECK FAIL ") .. what)
end
local A = enclaver.attestation
local docs = {}
for _, d in ipairs(enclaver.json.decode(enclaver.read_file("docs.json")).documents) do
  docs[d.file] = d
end

enclaver.on("after:measure", function(ctx)
  local doc = enclaver.read_file("doc-2.cbor")
  local ok, rep = A.verify(doc)
  check(ok == true and rep.verified == true, "doc-2 verifies against the built-in AWS root at its own time")
  check(rep.pcrs.PCR0 == docs["doc-2.cbor"].pcrs["0"], "its PCR0 is the one docs.json lists")
  check(rep.timestamp == docs["doc-2.cbor"].timestamp_ms, "its timestamp (ms) is reported")
  check(rep.debug == false and #rep.failures == 0, "not debug, no failures")

  ok = A.verify(doc, { root = "aws-nitro-root-g1.pem" })
  check(ok == true, "opts.root as a file below the manifest directory")
  ok = A.verify(doc, { root = enclaver.read_file("aws-nitro-root-g1.pem") })
  check(ok == true, "opts.root as PEM text")

  ok = A.verify(doc, { pcrs = { PCR0 = docs["doc-2.cbor"].pcrs["0"], PCR1 = docs["doc-2.cbor"].pcrs["1"] } })
  check(ok == true, "the document's own PCR0 and PCR1 expected: verified")
  local ok2, msg, rep2 = A.verify(doc, { pcrs = { PCR0 = string.rep("00", 48) } })
  check(ok2 == nil and type(msg) == "string" and msg:find("PCR0", 1, true) ~= nil, "another PCR0: nil and a message naming PCR0")
  check(rep2 and rep2.verified == false and #rep2.failures >= 1, "... and a report listing the failure")

  ok2, msg = A.verify(doc, { at = rep.timestamp // 1000 + 10 * 365 * 86400 })
  check(ok2 == nil and msg:find("expired", 1, true) ~= nil, "ten years later: the leaf has expired")

  ok2, msg = A.verify(doc, { nonce = "00ff" })
  check(ok2 == nil and msg:find("nonce", 1, true) ~= nil, "an expected nonce it does not carry")

  local flipped = doc:sub(1, 200) .. string.char((doc:byte(201) + 1) % 256) .. doc:sub(202)
  ok2 = A.verify(flipped)
  check(ok2 == nil, "one flipped byte: refused")
  ok2, msg = A.verify(doc:sub(1, 1000))
  check(ok2 == nil and type(msg) == "string", "a truncated document: refused with a message")

  local dbg = enclaver.read_file("doc-1.cbor")
  ok2, msg = A.verify(dbg)
  check(ok2 == nil and msg:find("debug", 1, true) ~= nil, "a debug-mode document is refused")
  check(A.verify(dbg, { allow_debug = true }) == true, "... unless allow_debug")

  local good, err = pcall(A.verify, doc, { nounce = "00" })
  check(not good and tostring(err):find("unknown option", 1, true) ~= nil, "an unknown option is an error")
  good, err = pcall(A.verify, doc, { nonce = "xyz" })
  check(not good, "a nonce that is not hex is an error")
  print("CHECK finished")
end)

// libFuzzer target: formation (`-m`) and `forge scale` arguments.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  if let formation = try? Formation.parse(text, source: "-m") {
    for (_, count) in formation.counts { precondition(count >= 0) }
    let procfile = Procfile(path: "Procfile", entries: [ProcessType(name: "web", command: "w")])
    _ = try? formation.resolve(against: procfile, source: "-m")
  }
  let words = text.split(separator: " ").map(String.init)
  _ = try? ScaleArguments.parse(words)
  return 0
}

// libFuzzer target: the .env parser must return assignments or a ConfigError for any bytes,
// and must never run anything or look up a key it was not asked about.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let pairs = try? DotEnv.parse(bytes, path: ".env", lookup: { $0 == "HOME" ? "/home/fuzz" : nil }) {
    for (key, _) in pairs { precondition(!key.isEmpty) }
  }
  return 0
}

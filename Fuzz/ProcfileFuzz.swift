// libFuzzer target: the Procfile parser must return entries or a ConfigError for any bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let procfile = try? Procfile.parse(bytes, path: "Procfile") {
    precondition(!procfile.entries.isEmpty)
    for entry in procfile.entries {
      precondition(!entry.name.isEmpty && !entry.command.isEmpty)
    }
  }
  return 0
}

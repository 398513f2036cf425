// libFuzzer target: the control protocol decoder; a decoded request must encode to text that
// decodes to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let request = try? ControlRequest.decode(bytes) {
    let again = try? ControlRequest.decode(Array(request.encoded().utf8))
    precondition(again == request, "round trip changed the request")
  }
  _ = try? JSONValue.parse(bytes)
  return 0
}

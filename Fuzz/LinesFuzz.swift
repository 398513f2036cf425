// libFuzzer target: line assembly. The first bytes choose chunk sizes; feeding the rest in
// those chunks must give exactly the lines that one big chunk gives.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size > 4 else { return 0 }
  let all = Array(UnsafeBufferPointer(start: data, count: size))
  let sizes = all[0..<4].map { (Int($0) + 1) * 61 }
  let input = Array(all[4...])
  let whole = lines(of: input, chunks: [input.count])
  let pieces = lines(of: input, chunks: sizes)
  precondition(whole == pieces, "chunk boundaries changed the lines")
  precondition(whole.reduce(0) { $0 + $1.count } + input.filter { $0 == 0x0A }.count == input.count)
  return 0
}

private func lines(of input: [UInt8], chunks: [Int]) -> [[UInt8]] {
  let assembler = LineAssembler()
  var out: [[UInt8]] = []
  var offset = 0
  var turn = 0
  while offset < input.count {
    let size = min(chunks[turn % chunks.count], input.count - offset)
    turn += 1
    var fed = 0
    while fed < size {
      fed += assembler.feed(input[(offset + fed)..<(offset + size)])
      while let line = assembler.nextLine() { out.append(Array(line)) }
    }
    offset += size
  }
  if let rest = assembler.takeRemainder() { out.append(Array(rest)) }
  return out
}

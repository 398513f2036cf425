/// `forge scale` arguments: `web=4`, Heroku's relative `web+1` / `web-1`, and comma lists
/// (`web=4,worker=2`). Absolute counts and deltas are kept apart.
enum ScaleArguments {
  static func parse(_ arguments: [String]) throws(ConfigError) -> (counts: [(String, Int)], deltas: [(String, Int)]) {
    var counts: [(String, Int)] = []
    var deltas: [(String, Int)] = []
    for argument in arguments {
      for raw in argument.split(separator: ",", omittingEmptySubsequences: false) {
        let item = raw.trimmingBlanks()
        let bytes = Array(item.utf8)
        if let eq = bytes.firstIndex(of: UInt8(ascii: "=")) {
          let name = String(decoding: bytes[..<eq], as: UTF8.self)
          let countText = String(decoding: bytes[(eq + 1)...], as: UTF8.self)
          try checkName(name, item)
          guard let count = Formation.parseCount(countText) else {
            throw ConfigError(
              path: "scale", line: 0, message: "invalid count in \"\(item)\": expected TYPE=N, TYPE+N or TYPE-N")
          }
          counts.append((name, count))
          continue
        }
        var digitsStart = bytes.count
        while digitsStart > 0 && bytes[digitsStart - 1] >= 0x30 && bytes[digitsStart - 1] <= 0x39 { digitsStart -= 1 }
        guard digitsStart < bytes.count, digitsStart >= 2,
          bytes[digitsStart - 1] == UInt8(ascii: "+") || bytes[digitsStart - 1] == UInt8(ascii: "-"),
          let amount = Formation.parseCount(String(decoding: bytes[digitsStart...], as: UTF8.self))
        else {
          throw ConfigError(path: "scale", line: 0, message: "expected TYPE=N, TYPE+N or TYPE-N, got \"\(item)\"")
        }
        let name = String(decoding: bytes[..<(digitsStart - 1)], as: UTF8.self)
        try checkName(name, item)
        deltas.append((name, bytes[digitsStart - 1] == UInt8(ascii: "+") ? amount : -amount))
      }
    }
    return (counts, deltas)
  }

  private static func checkName(_ name: String, _ item: String) throws(ConfigError) {
    guard !name.isEmpty, name.utf8.allSatisfy(Procfile.isNameByte) else {
      throw ConfigError(path: "scale", line: 0, message: "invalid process type in \"\(item)\"")
    }
  }
}

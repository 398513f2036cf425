/// Who a line belongs to, with its prefix rendered once rather than per line:
/// `<colour>[HH:MM:SS ]web.1  | <reset>` in text mode, the JSON-escaped name in JSON mode.
struct LogSource {
  let name: String
  /// The colour escape (empty without colour); goes before the optional timestamp.
  let lead: [UInt8]
  /// The padded name, " | " and the reset escape.
  let tail: [UInt8]
  /// `"process":"web.1",` for JSON lines.
  let jsonField: [UInt8]
  /// `lead` and `tail` together, for lines without a timestamp: one copy.
  let prefix: [UInt8]

  init(name: String, width: Int, colour: [UInt8]?) {
    self.name = name
    let padding = max(0, width - name.utf8.count)
    lead = colour ?? []
    var tail = Array(name.utf8) + [UInt8](repeating: 0x20, count: padding) + Array(" | ".utf8)
    if colour != nil { tail += Palette.reset }
    self.tail = tail
    prefix = lead + tail
    jsonField = Array("\"process\":".utf8) + JSONText.escaped(name) + [UInt8(ascii: ",")]
  }

  static let forgeName = "forge"
}

extension String {
  /// The text with each scalar that `escape` gives a replacement for replaced by it: the one
  /// loop behind the quoting of logfmt values, metric labels, and Compose and systemd files,
  /// which differ only in their table. By scalar, not Character: "\r\n" is one Character, and
  /// its "\n" must be found.
  func escapingScalars(_ escape: (Unicode.Scalar) -> String?) -> String {
    var out = ""
    out.reserveCapacity(utf8.count)
    for scalar in unicodeScalars {
      if let replacement = escape(scalar) { out += replacement } else { out.unicodeScalars.append(scalar) }
    }
    return out
  }
}

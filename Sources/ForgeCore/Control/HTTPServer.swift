/// Plain HTTP/1.1 from the event loop for `--metrics`: no thread, no library. One request per
/// connection (answered with `Connection: close`); request heads over 8 KiB (431), clients
/// silent for 5 s and connections beyond 64 are closed, so a slow scraper never stalls the log stream.
final class HTTPServer {
  struct Response {
    let status: Int
    let contentType: String
    let body: [UInt8]

    static func text(_ status: Int, _ body: String, type: String = "text/plain; charset=utf-8") -> Response {
      Response(status: status, contentType: type, body: Array(body.utf8))
    }
  }

  typealias Handler = (_ method: String, _ path: String) -> Response

  static let requestLimit = 8192
  static let idleLimit: Deadline = 5_000_000_000
  static let connectionLimit = 64

  private final class Connection {
    let fd: FileDescriptor
    let token: UInt64
    var request: [UInt8] = []
    var response: [UInt8] = []
    var written = 0
    let deadline: Deadline

    init(fd: FileDescriptor, token: UInt64, deadline: Deadline) {
      self.fd = fd
      self.token = token
      self.deadline = deadline
    }
  }

  let address: ListenAddress
  private let listener: FileDescriptor
  private let loop: Epoll
  private let listenerToken: UInt64
  private var nextToken: UInt64
  private var connections: [UInt64: Connection] = [:]

  init(address: ListenAddress, loop: Epoll, listenerToken: UInt64, firstToken: UInt64) throws(SystemError) {
    self.address = address
    self.listener = try address.listen()
    self.loop = loop
    self.listenerToken = listenerToken
    self.nextToken = firstToken
    try loop.add(listener.raw, events: Epoll.input, token: listenerToken)
  }

  func owns(_ token: UInt64) -> Bool { connections[token] != nil }

  var nextDeadline: Deadline? { connections.values.map(\.deadline).min() }

  func acceptReady(now: Deadline) {
    while let fd = try? UnixSocket.accept(listener) {
      guard connections.count < Self.connectionLimit else {
        fd.close()
        continue
      }
      let connection = Connection(fd: fd, token: nextToken, deadline: now &+ Self.idleLimit)
      nextToken += 1
      do {
        try loop.add(fd.raw, events: Epoll.input, token: connection.token)
        connections[connection.token] = connection
      } catch {
        fd.close()
      }
    }
  }

  func service(_ event: Epoll.Event, handler: Handler) {
    guard let connection = connections[event.token] else { return }
    if !connection.response.isEmpty {
      write(connection)
      return
    }
    var chunk = [UInt8](repeating: 0, count: 4096)
    let result: Int?
    do {
      result = try connection.fd.read(into: &chunk)
    } catch {
      drop(connection)
      return
    }
    guard let count = result else { return }  // would block
    if count == 0 {
      drop(connection)
      return
    }
    let searched = connection.request.count
    connection.request += chunk[0..<count]
    // The limit is on the head (request line, fields, blank line) however it arrives: a head
    // sent in one write is read in several chunks and its end may come in the last one, so
    // its size is checked once the end is found, not only while the end is missing.
    if let (end, size) = headEnd(connection.request, from: max(0, searched - 3)) {
      guard size <= Self.requestLimit else { return respond(connection, .text(431, "request too large\n")) }
      guard let (method, path) = parse(connection.request[..<end]) else {
        return respond(connection, .text(400, "bad request\n"))
      }
      let response = handler(method, path)
      // HEAD: the same headers, no body (RFC 9110 9.3.2).
      respond(connection, response, body: method != "HEAD")
    } else if connection.request.count >= Self.requestLimit {
      // No end within the limit: the head is longer than that, whatever follows.
      respond(connection, .text(431, "request too large\n"))
    }
  }

  /// Where the blank line that ends the head is, searched from `start` (the bytes before it
  /// were searched when they came): the head's end and its size with the blank line. Lines
  /// end in CRLF, or in a bare LF, which RFC 9112 (2.2) lets a server accept
  /// (`printf 'GET /metrics HTTP/1.0\n\n' | nc` is answered at once, not after 5 s).
  private func headEnd(_ bytes: [UInt8], from start: Int) -> (end: Int, size: Int)? {
    guard start < bytes.count else { return nil }
    for i in start..<bytes.count where bytes[i] == 0x0A {
      if i + 1 < bytes.count && bytes[i + 1] == 0x0A { return (i, i + 2) }
      if i + 2 < bytes.count && bytes[i + 1] == 0x0D && bytes[i + 2] == 0x0A { return (i, i + 3) }
    }
    return nil
  }

  /// `GET /metrics HTTP/1.1` → ("GET", "/metrics"); the query is left out. Nil for a request
  /// line that is not METHOD TARGET HTTP/1.x.
  private func parse(_ head: ArraySlice<UInt8>) -> (String, String)? {
    let line = head.prefix { $0 != 0x0D && $0 != 0x0A }.split(separator: 0x20)
    guard line.count == 3, line[2].starts(with: Array("HTTP/1.".utf8)) else { return nil }
    let target = String(decoding: line[1], as: UTF8.self)
    return (String(decoding: line[0], as: UTF8.self), String(target.prefix { $0 != "?" }))
  }

  private func respond(_ connection: Connection, _ response: Response, body: Bool = true) {
    let reasons = [
      200: "OK", 404: "Not Found", 405: "Method Not Allowed", 431: "Request Header Fields Too Large",
      503: "Service Unavailable", 400: "Bad Request",
    ]
    var head = "HTTP/1.1 \(response.status) \(reasons[response.status] ?? "Status")\r\n"
    head += "Content-Type: \(response.contentType)\r\nContent-Length: \(response.body.count)\r\n"
    if response.status == 405 { head += "Allow: GET, HEAD\r\n" }
    head += "Connection: close\r\n\r\n"
    connection.response = Array(head.utf8) + (body ? response.body : [])
    loop.remove(connection.fd.raw)
    write(connection)
  }

  private func write(_ connection: Connection) {
    switch connection.fd.writeWithoutBlocking(connection.response, from: &connection.written) {
    case .wouldBlock:
      loop.remove(connection.fd.raw)
      if (try? loop.add(connection.fd.raw, events: Epoll.output, token: connection.token)) == nil { drop(connection) }
    case .done, .failed:
      drop(connection)
    }
  }

  private func drop(_ connection: Connection) {
    loop.remove(connection.fd.raw)
    connection.fd.close()
    connections[connection.token] = nil
  }

  /// Closes connections that sent nothing (or not enough) in time.
  func timers(now: Deadline) {
    for connection in connections.values where connection.deadline <= now { drop(connection) }
  }

  func close() {
    for connection in connections.values { drop(connection) }
    loop.remove(listener.raw)
    listener.close()
    if case .unix(let path) = address { UnixSocket.remove(path) }
  }
}

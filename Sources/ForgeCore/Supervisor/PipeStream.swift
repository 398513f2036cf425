/// The read end of one process's output pipe (stdout and stderr together, so its lines keep
/// their order) or pseudo-terminal, with its line assembler. It outlives its process when a
/// background child keeps the pipe open, and is closed at end of file.
final class PipeStream {
  let fd: FileDescriptor
  let token: UInt64
  let assembler: LineAssembler
  /// Strong: a stream can outlive its instance's place in the formation (scaled away while a
  /// process that escaped with setsid still holds the pipe). The cycle through
  /// `Instance.stream` is broken when the stream ends.
  let instance: Instance
  /// Registered with epoll (false while output is paused for back-pressure).
  var registered = false

  init(fd: FileDescriptor, token: UInt64, instance: Instance) {
    self.fd = fd
    self.token = token
    self.instance = instance
    self.assembler = LineAssembler(stripsCarriageReturn: instance.usesTerminal)
  }
}

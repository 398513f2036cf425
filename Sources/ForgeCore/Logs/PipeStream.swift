/// The output of one process: its pipe (or pseudo-terminal), the lines being assembled from it,
/// and the prefix they are printed under. A stream outlives its instance's place in the
/// formation while its lines wait for stdout, or while a process that escaped its group still
/// holds the pipe.
final class PipeStream {
  let fd: FileDescriptor
  let token: UInt64
  let assembler: LineAssembler
  let instance: FormationMachine.InstanceID
  var source: LogSource
  /// Its instance's recent lines (shared by every process of the instance).
  let ring: LineRing
  /// Lines and bytes of its type, for the metrics.
  let counter: LogCounter
  /// The process group of the process it belongs to, once spawned.
  var group: Int32 = 0
  /// False once the pipe has ended (or was read to its end and closed): only the assembled
  /// lines are left, waiting for stdout.
  var isOpen = true
  /// Whether its pipe buffer was grown (it proved chatty).
  var grown = false
  /// `--ready TYPE=log:TEXT`: the text a line must contain, until one does.
  var readyText: [UInt8]?
  /// A caller is attached to this terminal (`forge attach`): raw output goes to it too.
  var attached = false
  /// The end of a piece of an over-long line that may begin a secret: printed with the next.
  var carry: [UInt8] = []

  init(
    fd: FileDescriptor, token: UInt64, instance: FormationMachine.InstanceID, source: LogSource,
    terminal: Bool, ring: LineRing, counter: LogCounter
  ) {
    self.ring = ring
    self.counter = counter
    self.fd = fd
    self.token = token
    self.instance = instance
    self.source = source
    self.assembler = LineAssembler(stripsCarriageReturn: terminal)
  }
}

/// Lines and bytes a type has written, for `forge_log_lines_total` and `forge_log_bytes_total`.
final class LogCounter {
  var lines: UInt64 = 0
  var bytes: UInt64 = 0
}

/// `forge attach`: a caller's terminal connected to an instance's (see `AttachSessions`).
extension Supervisor {
  func attach(
    _ client: ControlConnection, target: String, rows: Int, columns: Int, steal: Bool
  ) throws(ControlError) -> String? {
    let wanted = target.contains(".") ? target : target + ".1"
    guard let instance = machine.orderedInstances.first(where: { name($0.id) == wanted }) else {
      let known = machine.orderedInstances.map { name($0.id) }.joined(separator: ", ")
      throw ControlError("no instance \(wanted) (instances: \(known.isEmpty ? "none" : known))")
    }
    let type = typeName(instance.id.typeIndex)
    guard project.settings.ttyTypes.contains(type) else {
      throw ControlError("\(wanted) has no terminal: start forge with --interactive \(type)")
    }
    guard case .running(let pid) = instance.state, let terminal = pump.stream(ofGroup: pid), terminal.isOpen else {
      throw ControlError("\(wanted) is not running")
    }
    if let holder = attachments.holder(of: instance.id), !steal {
      throw ControlError("\(wanted) is attached from pid \(holder); use --steal to take over")
    }
    // The last screenful, the prompt it waits at included (a partial line), as a terminal shows it.
    var screen: [UInt8] = []
    // The process's own output only: forge's lines about it are not on its terminal.
    let lastLines = { (_: String, record: LineRing.Record, line: UnsafeRawBufferPointer) in
      if !record.byForge { screen += Array(line) + [0x0D, 0x0A] }
    }
    pump.history.last(max(1, rows - 1), matching: { $0 == wanted }, render: lastLines)
    screen += terminal.assembler.peekRemainder()
    guard let control else { return nil }
    let peer = client.peerPID
    attachments.attach(
      control.detach(client), to: instance.id, terminal: terminal, peerPID: peer, rows: rows, columns: columns,
      first: Array(ControlReply.success([("instance", .string(wanted))]).utf8) + AttachFrame.data(screen).encoded)
    announce("\(wanted): attached by \(client.peer)")
    return nil
  }
}

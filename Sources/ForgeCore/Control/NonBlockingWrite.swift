/// How writing to a client without blocking ended: everything written, the client's socket
/// full (wait for it to be writable), or the client gone.
enum NonBlockingWrite {
  case done
  case wouldBlock
  case failed
}

extension FileDescriptor {
  /// Writes what `buffer` holds while the descriptor takes it without blocking; what was
  /// written is consumed.
  func writeWithoutBlocking(_ buffer: OutputBuffer) -> NonBlockingWrite {
    while buffer.count > 0 {
      do {
        guard let n = try write(buffer.bytes) else { return .wouldBlock }
        buffer.consume(n)
      } catch {
        return .failed
      }
    }
    return .done
  }

  /// The same for `bytes` from `offset` on; `offset` moves past what was written.
  func writeWithoutBlocking(_ bytes: [UInt8], from offset: inout Int) -> NonBlockingWrite {
    while offset < bytes.count {
      let start = offset
      let result = bytes.withUnsafeBytes { raw in
        Result { () throws(SystemError) -> Int? in try write(UnsafeRawBufferPointer(rebasing: raw[start...])) }
      }
      switch result {
      case .success(let n?): offset += n
      case .success(nil): return .wouldBlock
      case .failure: return .failed
      }
    }
    return .done
  }
}

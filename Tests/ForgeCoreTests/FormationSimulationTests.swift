import Foundation
import XCTest

@testable import ForgeCore

/// Deterministic simulation: each seed builds a formation, a fake process table and a stream
/// of outside inputs, runs the machine to forge's exit and checks its invariants after every
/// input (see `SimulationChecks`). `FORGE_SIM_SEEDS=N` runs seeds 1…N; `FORGE_SIM_SEED=S`
/// replays one seed and prints its trace. `make sim SEEDS=N`, `make sim SEED=S` (which also sets
/// SWIFT_DETERMINISTIC_HASHING=1, so that a replay takes the very same steps: the machine emits
/// some actions in dictionary order). Everything printed is ASCII: `swift test` drops a test's
/// whole output when a multi-byte character straddles one of its reads.
final class FormationSimulationTests: XCTestCase {
  private static let defaultSeeds: UInt64 = 2000

  /// Seeds that found bugs, replayed on every run: 29, a readiness timeout acting during a
  /// staged stop; 42, an on-failure formation ending with no instance left and then idling in
  /// `stopping`; 21033, a pid reaped and reused within one batch of `reapChildren` (its exit,
  /// fed after the new spawn, is taken for the new instance's).
  private static let regressions: [UInt64] = [29, 42, 21033]

  func testSeedsThatFoundBugs() {
    guard ProcessInfo.processInfo.environment["FORGE_SIM_SEED"] == nil else { return }  // a replay
    for seed in Self.regressions {
      var simulation = FormationSimulation(seed: seed)
      if let failure = simulation.run() { XCTFail(failure) }
    }
  }

  func testRandomFormationsKeepTheInvariants() {
    let environment = ProcessInfo.processInfo.environment
    if let text = environment["FORGE_SIM_SEED"], !text.isEmpty {
      guard let seed = UInt64(text) else { return XCTFail("FORGE_SIM_SEED=\(text) is not a number") }
      var simulation = FormationSimulation(seed: seed, verbose: true)
      let failure = simulation.run()
      print("seed \(seed): \(simulation.handled) inputs, \(Double(simulation.now) / 1e9) s simulated")
      if let failure { XCTFail(failure) }
      return
    }
    let count = environment["FORGE_SIM_SEEDS"].flatMap { UInt64($0) } ?? Self.defaultSeeds
    let started = Date()
    var failures: [String] = []
    var inputs = 0
    var spurious = 0
    var ran: UInt64 = 0
    var failing: [UInt64] = []
    for seed in 1...max(count, 1) {
      var simulation = FormationSimulation(seed: seed)
      if let failure = simulation.run() {
        failures.append(failure)
        failing.append(seed)
      }
      ran = seed
      inputs += simulation.handled
      spurious += simulation.checks.spuriousDeadlines
      if failures.count == 10 { break }
    }
    let elapsed = Date().timeIntervalSince(started)
    print(
      "formation simulation: \(ran) seeds, \(inputs) inputs in \(String(format: "%.1f", elapsed)) s "
        + "(\(Int(Double(ran) / max(elapsed, 0.001))) seeds/s); \(spurious) inputs left a wake-up for nothing"
        + (failing.isEmpty ? "" : "; failing seeds (the first 10): " + failing.map(String.init).joined(separator: " ")))
    for failure in failures { XCTFail(failure) }
  }
}

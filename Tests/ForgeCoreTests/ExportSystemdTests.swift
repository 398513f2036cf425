import Foundation
import XCTest

@testable import ForgeCore

/// `forge export systemd`, read back the way systemd reads units (see `UnitFile`,
/// `SystemdReader`). `systemd-analyze verify` runs in ExportValidationTests.
final class ExportSystemdTests: ExportTestCase {
  private func systemd(
    formation: String = "web=2,worker=1,clock=0", env: String? = nil, user: String? = nil, restart: String? = nil,
    timeout: String = "5", procfile: String? = nil, probes: [(String, String)] = []
  ) throws -> [ExportFile] {
    let project = try exportProject(
      procfile: procfile ?? self.procfile, env: env, options: [("formation", formation), ("timeout", timeout)])
    return try ExportFormat.systemd.files(try exportPlan(project, user: user, restart: restart, probes: probes))
  }

  private func unit(_ files: [ExportFile], _ type: String) throws -> UnitFile {
    UnitFile(try exportFile(files, "example-\(type)@.service").text)
  }

  func testSystemdWritesATargetATemplatePerRunningTypeAndADropInPerInstance() throws {
    let files = try systemd()
    XCTAssertEqual(
      files.map(\.path),
      [
        "example.target", "example.env",
        "example-web@.service", "example-web@1.service.d/port.conf", "example-web@2.service.d/port.conf",
        "example-worker@.service", "example-worker@1.service.d/port.conf",
      ])
    XCTAssertEqual(try exportFile(files, "example.env").mode, 0o600)
    XCTAssertEqual(try exportFile(files, "example.target").mode, 0o644)
  }

  func testSystemdTargetWantsEveryInstance() throws {
    let target = UnitFile(try exportFile(try systemd(), "example.target").text)
    XCTAssertEqual(target.sections, ["Unit", "Install"])
    XCTAssertEqual(
      target.values("Unit", "Wants"), ["example-web@1.service", "example-web@2.service", "example-worker@1.service"])
    XCTAssertEqual(target.value("Install", "WantedBy"), "multi-user.target")
  }

  func testSystemdTemplateRunsTheTypeWithTheExportsSettings() throws {
    let files = try systemd(user: "deploy", restart: "on-failure,worker=always", timeout: "7.5")
    for (type, restart) in [("web", "on-failure"), ("worker", "always")] {
      let unit = try unit(files, type)
      XCTAssertEqual(unit.sections, ["Unit", "Service"], type)
      XCTAssertEqual(unit.value("Unit", "PartOf"), "example.target", type)
      XCTAssertEqual(unit.values("Unit", "After"), ["network.target"], type)
      XCTAssertEqual(unit.values("Unit", "Wants"), [], type)
      XCTAssertEqual(unit.values("Service", "Type"), [], "simple: no readiness probe")
      XCTAssertEqual(unit.value("Service", "User"), "deploy", type)
      XCTAssertEqual(unit.value("Service", "WorkingDirectory"), "/srv/app", type)
      XCTAssertEqual(unit.value("Service", "EnvironmentFile"), "/etc/systemd/system/example.env", type)
      XCTAssertEqual(unit.values("Service", "Environment"), ["PS=\(type).%i", "DYNO=\(type).%i"], type)
      XCTAssertEqual(unit.value("Service", "KillMode"), "mixed", type)
      XCTAssertEqual(unit.value("Service", "TimeoutStopSec"), "12.5", "\(type): -t 7.5 and the 5 s margin")
      XCTAssertEqual(unit.values("Service", "TimeoutStartSec"), [], type)
      XCTAssertEqual(unit.value("Service", "Restart"), restart, type)
      XCTAssertEqual(unit.value("Service", "RestartSec"), "1", type)
      XCTAssertEqual(unit.value("Service", "StandardOutput"), "journal", type)
      XCTAssertEqual(unit.value("Service", "StandardError"), "journal", type)
      XCTAssertEqual(unit.value("Service", "SyslogIdentifier"), "example-\(type).%i", type)
    }
    let web = try unit(files, "web")
    XCTAssertEqual(
      SystemdReader.shellCommand(try XCTUnwrap(web.value("Service", "ExecStart"))), "./server --port $PORT")
  }

  func testSystemdWithoutUserOrRestartPolicy() throws {
    let unit = try unit(try systemd(timeout: "0"), "web")
    XCTAssertEqual(unit.values("Service", "User"), [])
    XCTAssertEqual(unit.value("Service", "Restart"), "no")
    XCTAssertEqual(unit.values("Service", "RestartSec"), [])
    // -t 0 and the margin: never 0, which would mean "no timeout" to systemd.
    XCTAssertEqual(unit.value("Service", "TimeoutStopSec"), "5")
  }

  func testSystemdDropInSetsEachInstancesPortByThePortRule() throws {
    let files = try systemd(formation: "web=3,worker=2,clock=1", env: "PORT=7000\n")
    for (type, index, count) in [("web", 0, 3), ("worker", 1, 2), ("clock", 2, 1)] {
      for instance in 1...count {
        let dropIn = UnitFile(try exportFile(files, "example-\(type)@\(instance).service.d/port.conf").text)
        XCTAssertEqual(dropIn.sections, ["Service"])
        XCTAssertEqual(dropIn.values("Service", "Environment"), ["PORT=\(7000 + 100 * index + instance - 1)"])
      }
    }
    XCTAssertNil(files.first { $0.path.hasPrefix("example-web@4") })
  }

  func testSystemdExecStartEscapesWhatSystemdWouldInterpret() throws {
    let commands = [
      #"echo "$HOME" ${PATH} $$ 100% %i \n 'single' back\slash"#,
      "printf 'a\tb'",
      #"sh -c "echo \"nested\"" ; echo done"#,
    ]
    for command in commands {
      let files = try systemd(formation: "web=1", procfile: "web: \(command)\n")
      let execStart = try XCTUnwrap(try unit(files, "web").value("Service", "ExecStart"))
      XCTAssertEqual(SystemdReader.shellCommand(execStart), command, execStart)
    }
    XCTAssertEqual(SystemdExport.quoted("a\u{1}b"), #""a\x01b""#)
    XCTAssertEqual(SystemdExport.quoted(#"$x %y "z" \w"#), #""$$x %%y \"z\" \\w""#)
  }

  func testSystemdEnvironmentFileReadsBackAsTheEnvFilesVariables() throws {
    let plan = try exportPlan(try exportProject(procfile: procfile, env: trickyEnv))
    let file = try exportFile(try ExportFormat.systemd.files(plan), "example.env")
    XCTAssertEqual(file.mode, 0o600)
    let read = try XCTUnwrap(SystemdReader.environmentFile(file.text), file.text)
    XCTAssertEqual(read.map(\.key), plan.environment.map(\.key))
    XCTAssertEqual(dictionary(read), dictionary(plan.environment))
    XCTAssertEqual(dictionary(read)["QUOTES"], #"say "hi" and it's 100% $5 `x`"#)
    XCTAssertEqual(dictionary(read)["MULTILINE"], "line one\nline two")
  }

  // MARK: - Readiness, health and start order

  private let ordered = "db: ./db\nmigrate: ./migrate\nweb: ./web\nworker: ./work\n"

  func testSystemdUnitsStartAfterAndWantEveryUnitOfWhatTheyWaitFor() throws {
    let files = try systemd(
      formation: "db=2,migrate=1,web=2,worker=1", procfile: ordered,
      probes: [("after", "web=db,web=migrate:done"), ("after", "worker=web")])
    let web = try unit(files, "web")
    let dependencies = ["example-db@1.service", "example-db@2.service", "example-migrate@1.service"]
    XCTAssertEqual(web.values("Unit", "After"), ["network.target"] + dependencies)
    XCTAssertEqual(web.values("Unit", "Wants"), dependencies)
    let worker = try unit(files, "worker")
    XCTAssertEqual(worker.values("Unit", "Wants"), ["example-web@1.service", "example-web@2.service"])
    XCTAssertEqual(try unit(files, "db").values("Unit", "After"), ["network.target"])
    XCTAssertEqual(try unit(files, "db").values("Unit", "Wants"), [])
  }

  func testSystemdTaskIsAOneshotThatCountsAsStartedOnceDone() throws {
    let files = try systemd(
      formation: "all=1", restart: "always,db=never", procfile: ordered,
      probes: [("after", "web=migrate:done,worker=db:done"), ("ready", "migrate=port")])
    for (type, restart) in [("migrate", "on-failure"), ("db", "no")] {
      let task = try unit(files, type)
      XCTAssertEqual(task.value("Service", "Type"), "oneshot", type)
      XCTAssertEqual(task.value("Service", "RemainAfterExit"), "yes", type)
      XCTAssertEqual(task.value("Service", "TimeoutStartSec"), "infinity", "a task may take its time")
      // systemd refuses Restart=always for a oneshot; a task that is done is not started again.
      XCTAssertEqual(task.value("Service", "Restart"), restart, type)
      XCTAssertEqual(task.values("Service", "ExecStartPost"), [], "a oneshot is ready once it has exited")
    }
    XCTAssertEqual(try unit(files, "web").values("Service", "Type"), [])
    XCTAssertEqual(try unit(files, "web").value("Service", "Restart"), "always")
  }

  func testSystemdNotifyReadinessIsTypeNotify() throws {
    let files = try systemd(probes: [("ready", "web=notify"), ("ready-timeout", "12.5")])
    let web = try unit(files, "web")
    XCTAssertEqual(web.value("Service", "Type"), "notify")
    // READY=1 may come from the process under `/bin/sh -c`, not the unit's main process.
    XCTAssertEqual(web.value("Service", "NotifyAccess"), "all")
    XCTAssertEqual(web.value("Service", "TimeoutStartSec"), "12.5")
    XCTAssertEqual(try unit(files, "worker").values("Service", "Type"), [])
  }

  func testSystemdPolledReadinessHoldsTheStartUntilTheProbePasses() throws {
    let command = #"test -e "/tmp/$PS ready" && echo 100%"#
    let files = try systemd(
      formation: "all=1", probes: [("ready", "web=http:/up?a=1 b,clock=port"), ("ready", "worker=exec:\(command)")])
    let expected = [
      "web": "wget -q -T 1 -O /dev/null \"http://127.0.0.1:$PORT/up?a=1 b\" || "
        + "curl -fsS -m 1 -o /dev/null \"http://127.0.0.1:$PORT/up?a=1 b\"",
      "clock": "nc -z 127.0.0.1 $PORT || bash -c ': </dev/tcp/127.0.0.1/$PORT'",
      "worker": "/bin/sh -c " + #"'test -e "/tmp/$PS ready" && echo 100%'"#,
    ]
    for (type, test) in expected {
      let unit = try unit(files, type)
      XCTAssertEqual(unit.values("Service", "Type"), [], type)
      XCTAssertEqual(unit.value("Service", "TimeoutStartSec"), "60", type)
      let post = try XCTUnwrap(unit.value("Service", "ExecStartPost"), type)
      XCTAssertEqual(SystemdReader.shellCommand(post), "until \(test); do sleep 1; done", type)
    }
  }

  func testSystemdLogReadinessAndHealthChecksAreCommentsOnly() throws {
    let files = try systemd(probes: [("ready", "web=log:up\nand running"), ("health", "web=port,worker=exec:true")])
    let text = try exportFile(files, "example-web@.service").text
    let web = UnitFile(text)
    XCTAssertEqual(web.values("Service", "Type"), [])
    XCTAssertEqual(web.values("Service", "ExecStartPost"), [])
    XCTAssertEqual(web.values("Service", "TimeoutStartSec"), [])
    // Escaped as in JSON: a comment never spills onto the next line.
    XCTAssertTrue(text.contains("\n# Not exported: readiness \"log:up\\u000aand running\"; systemd cannot"), text)
    XCTAssertTrue(text.contains("\n# Not exported: health check \"port\"; systemd has no health checks.\n"), text)
    let worker = try exportFile(files, "example-worker@.service").text
    XCTAssertTrue(worker.contains("# Not exported: health check \"exec:true\""), worker)
  }
}

/// Help texts: `forge --help` and `forge help COMMAND`.
enum Help {
  static let main = """
    forge \(Forge.version): run a Procfile's processes as one formation.

    Usage: forge COMMAND [OPTIONS]

    Commands:
      start [TYPE...]     run the formation in the foreground until stopped
      run COMMAND [ARG...]
                          run a one-off command with the formation's environment
      check               validate the Procfile and env files
      env                 print the environment the processes get
      scale TYPE=N...     change the formation of a running forge (also TYPE+N, TYPE-N)
      ps                  list the processes of a running forge
      restart [TYPE|TYPE.N]
                          restart processes of a running forge
      stop                stop a running forge and wait until it has exited
      wait [TYPE...]      wait until the types of a running forge are ready
      reload              read the files again and roll the new release out
      signal SIGNAL [TYPE|TYPE.N...]
                          send a signal to processes of a running forge
      logs [TARGET...]    print recent lines of a running forge's processes (-f follows)
      events              stream the lifecycle events of a running forge until Ctrl-C
      attach TARGET       connect this terminal to an instance's terminal
      top                 a live view of a running forge: CPU, memory, state, readiness
      export FORMAT DIR   write the formation as systemd units, Kubernetes manifests or a
                          Compose file (FORMAT: systemd, kubernetes, compose)
      completion SHELL    print a completion script for bash, zsh or fish
      help [COMMAND]      show help for a command
      version             print forge's version

    Common options (each also from FORGE_<NAME>, e.g. FORGE_PROCFILE):
      -f, --procfile FILE   Procfile to read (default: Procfile in the root)
      -e, --env FILES       env files, comma-separated (default: .env in the root)
      -d, --root DIR        app root (default: the Procfile's directory)

    Run 'forge help start' for the options of a command.

    """

  static func command(_ name: String) -> String? {
    switch name {
    case "help": return "Usage: forge help [COMMAND]\n\nShows help for forge or for one command.\n"
    case "version": return "Usage: forge version (or forge --version)\n\nPrints forge's version.\n"
    default: break
    }
    let (usage, summary, specs): (String, String, [OptionSpec])
    switch name {
    case "start":
      (usage, summary, specs) = (
        "forge start [OPTIONS] [TYPE...]",
        "Runs every process type of the Procfile (or only the TYPEs named) at the formation's count,\n"
          + "prints their output as one stream, and stops them all gracefully on Ctrl-C or SIGTERM.",
        StartCommand.specs
      )
    case "run":
      (usage, summary, specs) = (
        "forge run [OPTIONS] COMMAND [ARG...]",
        "Runs a one-off command with the formation's environment (PORT = base port, PS=run.1).\n"
          + "A Procfile type name runs that type's command. When a forge is running here, its\n"
          + "release (environment) is used, not the files on disk.",
        RunCommand.specs
      )
    case "check":
      (usage, summary, specs) = (
        "forge check [OPTIONS]", "Parses the Procfile and every env file and reports the first error.",
        CheckCommand.specs
      )
    case "env":
      (usage, summary, specs) = (
        "forge env [OPTIONS]", "Prints the environment processes get (before PORT, PS and DYNO), sorted by key.",
        EnvCommand.specs
      )
    case "scale":
      (usage, summary, specs) = (
        "forge scale [TYPE=N|TYPE+N|TYPE-N...] [--wait]",
        "Changes the formation of the forge running here; with no argument, prints it.\n"
          + "With --wait, returns once the new instances are ready.",
        ClientCommands.specs(of: "scale")
      )
    case "ps":
      (usage, summary, specs) = (
        "forge ps [--json]", "Lists the processes of the forge running here.", ClientCommands.specs
      )
    case "restart":
      (usage, summary, specs) = (
        "forge restart [TYPE|TYPE.N] [--no-wait]",
        "Restarts the named processes (all without argument) one at a time, keeping numbers and\n"
          + "ports: the next once the previous is ready again. Returns when the last one is ready.",
        ClientCommands.specs(of: "restart")
      )
    case "stop":
      (usage, summary, specs) = (
        "forge stop", "Stops the forge running here gracefully and waits until it has exited.", ClientCommands.specs
      )
    case "reload":
      (usage, summary, specs) = (
        "forge reload [--dry-run]",
        "Reads the Procfile, env files and .forge again and replaces the changed types one instance\n"
          + "at a time, each once the previous is ready. Exits 1 if the rollout halted, 2 on bad input.",
        ClientCommands.specs(of: "reload")
      )
    case "signal":
      (usage, summary, specs) = (
        "forge signal SIGNAL [TYPE|TYPE.N...]",
        "Sends SIGNAL to the process groups of the named types or instances (all without TYPE).",
        ClientCommands.specs
      )
    case "wait":
      (usage, summary, specs) = (
        "forge wait [TYPE...] [--timeout SECONDS]",
        "Waits until every instance of the TYPEs (all types without argument) of the forge running\n"
          + "here is ready. Exits 1, naming what is not ready, after the timeout or if forge stops.",
        ClientCommands.specs(of: "wait")
      )
    case "logs":
      (usage, summary, specs) = (
        "forge logs [TARGET...] [-f] [-n N] [--json] [--timestamp]",
        "Prints the last N lines (default 100) of the TARGETs (types or instances; all without one) of\n"
          + "the forge running here, merged in arrival order, in the live stream's format. forge keeps\n"
          + "--log-buffer lines per instance. -f follows live output until Ctrl-C or until forge stops.",
        ClientCommands.specs(of: "logs")
      )
    case "events":
      (usage, summary, specs) = (
        "forge events [--json]",
        "Streams the lifecycle events of the forge running here until Ctrl-C: started, ready, unhealthy,\n"
          + "exited, restarting, gave up, scaled, reload planned, replaced, halted, stopping, stopped;\n"
          + "each with its time, instance and release.",
        ClientCommands.specs(of: "events")
      )
    case "attach":
      (usage, summary, specs) = (
        "forge attach [OPTIONS] TARGET",
        "Connects this terminal to the terminal of an instance (web means web.1) of a type started\n"
          + "with --interactive or --tty. The detach key (Ctrl-]) leaves the process running; when the\n"
          + "process exits, forge attach exits with its status.",
        AttachCommand.specs
      )
    case "top":
      (usage, summary, specs) = (
        "forge top [OPTIONS]",
        "A full-screen view of the forge running here, refreshed every second: instances sorted by CPU\n"
          + "(m: by memory, c: by CPU, q quits) with state, readiness, restarts, uptime, port and release.\n"
          + "Outside a terminal, prints one snapshot.",
        TopCommand.specs
      )
    case "export":
      (usage, summary, specs) = (
        "forge export [OPTIONS] FORMAT DIR",
        "Writes the formation to DIR as FORMAT: systemd (a target, a template unit per type and a\n"
          + "PORT drop-in per instance; secrets through LoadCredential=), kubernetes (a Secret for\n"
          + "secret keys, a ConfigMap for the rest, Deployments, Services, Jobs for tasks) or compose\n"
          + "(compose.yaml, secrets in APP.secrets.env). Files holding values are mode 0600; the platform\n"
          + "gets -t + 5 s to stop. Files the last export wrote and this one does not are deleted\n"
          + "(DIR/.forge-export); a file it did not write is never overwritten without --force.\n"
          + "With --metrics, forge in each container serves metrics, and Kubernetes and Compose get its\n"
          + "port and the Prometheus scrape annotations (labels).",
        ExportCommand.specs
      )
    case "completion":
      (usage, summary, specs) = (
        "forge completion bash|zsh|fish",
        "Prints a completion script. bash: eval \"$(forge completion bash)\"; zsh: put it in a file\n"
          + "named _forge on $fpath; fish: forge completion fish > ~/.config/fish/completions/forge.fish",
        CompletionCommand.specs
      )
    default:
      return nil
    }
    var text = "Usage: \(usage)\n\n\(summary)\n\nOptions:\n"
    for spec in specs {
      var flag = spec.short.map { "-\($0), " } ?? "    "
      flag += "--\(spec.long)"
      if spec.takesValue { flag += " \(spec.placeholder)" }
      let padding = max(1, 30 - flag.count)
      text += "  \(flag)\(String(repeating: " ", count: padding))\(spec.help)\n"
    }
    return text
  }
}

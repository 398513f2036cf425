import ForgeCore

// Block the handled signals before anything can start a thread; they are read from a signalfd.
Forge.blockSignals()
Forge.main(CommandLine.arguments)

// swift-tools-version:6.0
import PackageDescription

// Every Swift target sees the glibc declarations that only exist with _GNU_SOURCE
// (pipe2, accept4, POSIX_SPAWN_SETSID, closefrom). Defining it inside the C header
// alone breaks the Glibc module with fd_set conflicts, so it is passed here.
let gnuSource: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-D_GNU_SOURCE"])]

let package = Package(
  name: "forge",
  products: [
    .executable(name: "forge", targets: ["forge"])
  ],
  targets: [
    // Header-only: a module map over the glibc and kernel headers we need.
    .systemLibrary(name: "CGlibcLinux"),
    .target(
      name: "ForgeCore",
      dependencies: ["CGlibcLinux"],
      // One thread owns every object (the event loop), so the run-time exclusivity checks on
      // class properties, a few per log line, buy nothing in a release build: measured, they
      // cost about as much as the relay itself. Debug builds and the tests keep them.
      swiftSettings: gnuSource + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
    ),
    .executableTarget(
      name: "forge",
      dependencies: ["ForgeCore"],
      swiftSettings: gnuSource
    ),
    .testTarget(
      name: "ForgeCoreTests",
      dependencies: ["ForgeCore"],
      swiftSettings: gnuSource
    ),
    .testTarget(
      name: "ForgeIntegrationTests",
      dependencies: ["forge"],
      swiftSettings: gnuSource
    ),
  ]
)

// A silent abort handler for modules that must import nothing at all (e.g. pure codecs):
// compile with --use abort=~lib/@zomehost/sdk/assembly/abort/abortTrap
// Zomes should use the default, abi/zhAbort, which also logs the message through `trace`.

export function abortTrap(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0,
): void {
  unreachable();
}

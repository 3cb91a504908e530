import { X86_64_SYSCALLS } from './syscalls-x86_64.js';

/**
 * The flock's seccomp profile (packages/daemon/seccomp/sandbox.json, the one Docker applies to
 * containers) compiled to the classic BPF program bubblewrap's `--seccomp <fd>` loads, so the
 * process runtime's sandboxes refuse the same calls as containers do. Docker compiles the
 * profile with libseccomp; here it is compiled by this small function, for x86_64 only (the
 * runtime refuses to start sandboxes on another architecture rather than run them without).
 *
 * Only the rule shapes the profile uses are understood (a rule of another shape is an error,
 * never silently allowed): allow or refuse (errno) by name, and allow when argument conditions
 * hold, either `SCMP_CMP_EQ` on a 64-bit value or `SCMP_CMP_MASKED_EQ` against 0 (no flag of a
 * mask set). Conditions of one rule must all hold (AND); rules of the same call are tried in
 * turn (OR), as libseccomp does.
 */

interface Arg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
interface Rule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: Arg[] | null;
  includes?: unknown;
  excludes?: unknown;
}
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  syscalls: Rule[];
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 calls share the numbers with this bit set; the profile never means them. */
const X32_SYSCALL_BIT = 0x40000000;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const RET_KILL_PROCESS = 0x80000000;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

/** struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8i (little-endian: low word first). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;
const argHigh = (i: number) => 16 + 8 * i + 4;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}
const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k: k >>> 0 });
const jump = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k: k >>> 0 });

function actionOf(rule: { action: string; errnoRet?: number }, fallbackErrno: number): number {
  if (rule.action === 'SCMP_ACT_ALLOW') return RET_ALLOW;
  if (rule.action === 'SCMP_ACT_ERRNO') return RET_ERRNO | ((rule.errnoRet ?? fallbackErrno) & 0xffff);
  throw new Error(`seccomp profile: action ${rule.action} is not supported by the process runtime's compiler`);
}

/**
 * One conditional rule as a block that returns `ret` when every condition holds and otherwise
 * falls through to the instruction after the block.
 */
function conditionBlock(args: Arg[], ret: number): Insn[] {
  // Built back to front so each failing test knows how far the end of the block is.
  const tail: Insn[] = [stmt(RET_K, ret)];
  for (const a of [...args].reverse()) {
    const hi = Math.floor(a.value / 2 ** 32);
    const lo = a.value % 2 ** 32;
    let test: Insn[];
    if (a.op === 'SCMP_CMP_EQ') {
      // High word equal, then low word equal; a miss jumps past the rest of the block.
      const skip = tail.length;
      test = [stmt(LD_W_ABS, argHigh(a.index)), jump(JEQ_K, hi, 0, skip + 2), stmt(LD_W_ABS, argLow(a.index)), jump(JEQ_K, lo, 0, skip)];
    } else if (a.op === 'SCMP_CMP_MASKED_EQ' && (a.valueTwo ?? 0) === 0) {
      // No bit of the mask set, in either word.
      const skip = tail.length;
      test = [stmt(LD_W_ABS, argHigh(a.index)), jump(JSET_K, hi, skip + 2, 0), stmt(LD_W_ABS, argLow(a.index)), jump(JSET_K, lo, skip, 0)];
    } else {
      throw new Error(`seccomp profile: condition ${a.op} (valueTwo ${a.valueTwo ?? 0}) is not supported by the process runtime's compiler`);
    }
    tail.unshift(...test);
  }
  if (tail.length > 255) throw new Error('seccomp profile: a conditional rule is too long for one BPF jump');
  return tail;
}

/** The program as bubblewrap reads it: struct sock_filter[] (u16 code, u8 jt, u8 jf, u32 k), little-endian. */
export function compileSeccomp(profile: SeccompProfile, table: Readonly<Record<string, number>> = X86_64_SYSCALLS): Buffer {
  if (profile.defaultAction !== 'SCMP_ACT_ERRNO') throw new Error('seccomp profile: the default action must be SCMP_ACT_ERRNO (refuse what is not listed)');
  const deny = RET_ERRNO | ((profile.defaultErrnoRet ?? 1) & 0xffff);
  // Per call, its rules in profile order: unconditional ones decide at once.
  const byNr = new Map<number, Rule[]>();
  for (const rule of profile.syscalls) {
    if (rule.includes && Object.keys(rule.includes).length > 0) throw new Error(`seccomp profile: "includes" (rule for ${rule.names[0]}) is not supported by the process runtime's compiler`);
    if (rule.excludes && Object.keys(rule.excludes).length > 0) throw new Error(`seccomp profile: "excludes" (rule for ${rule.names[0]}) is not supported by the process runtime's compiler`);
    for (const name of rule.names) {
      const nr = table[name];
      if (nr === undefined) continue; // not a call of this architecture
      byNr.set(nr, [...(byNr.get(nr) ?? []), rule]);
    }
  }
  const body: Insn[] = [];
  for (const [nr, rules] of [...byNr].sort((a, b) => a[0] - b[0])) {
    const block: Insn[] = [];
    let decided = false;
    for (const rule of rules) {
      const ret = actionOf(rule, 1);
      if (!rule.args || rule.args.length === 0) {
        block.push(stmt(RET_K, ret));
        decided = true;
        break;
      }
      // Falls through to the next rule of the call when a condition fails.
      block.push(...conditionBlock(rule.args, ret));
    }
    // No rule of the call matched: the default.
    if (!decided) block.push(stmt(RET_K, deny));
    if (block.length > 255) throw new Error(`seccomp profile: the rules of call ${nr} are too long for one BPF jump`);
    // A miss skips the block with the accumulator still holding nr; every path in a block returns.
    body.push(jump(JEQ_K, nr, 0, block.length), ...block);
  }
  const program: Insn[] = [
    stmt(LD_W_ABS, OFF_ARCH),
    jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
    stmt(RET_K, RET_KILL_PROCESS),
    stmt(LD_W_ABS, OFF_NR),
    jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
    stmt(RET_K, deny),
    ...body,
    stmt(RET_K, deny),
  ];
  if (program.length > 4096) throw new Error(`seccomp profile: ${program.length} BPF instructions, more than the kernel's 4096`);
  const out = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(insn.jt, i * 8 + 2);
    out.writeUInt8(insn.jf, i * 8 + 3);
    out.writeUInt32LE(insn.k, i * 8 + 4);
  });
  return out;
}

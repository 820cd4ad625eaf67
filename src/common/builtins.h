/* Wire layout of the built-in exit calls (selectors in asylo/selectors.h).
 * Both sides use common/bytes.h fields; the receiver checks every size.
 *
 *   LOG            in: u32 level, blob text          out: nothing
 *   TIME_WALL      in: nothing                       out: i64 nanoseconds
 *   TIME_MONOTONIC in: nothing                       out: i64 nanoseconds
 *   RANDOM         in: u32 size                      out: exactly size bytes (raw)
 *   FILE_OPEN      in: blob path, u32 flags, u32 mode out: u32 handle
 *   FILE_READ      in: u32 handle, u32 size          out: at most size bytes (raw)
 *   FILE_WRITE     in: u32 handle, blob data         out: u32 bytes written
 *   FILE_CLOSE     in: u32 handle                    out: nothing
 *   FILE_UNLINK    in: blob path                     out: nothing
 *   FILE_SEEK      in: u32 handle, u64 offset (two's complement), u32 whence (0 set,
 *                  1 current, 2 end)                 out: u64 new offset
 *   FILE_STAT      in: blob path                     out: the file's stat, below
 *   FILE_FSTAT     in: u32 handle                    out: the file's stat, below
 *
 * A stat is u32 mode (type and permission bits), u32 links, u64 size, then
 * i64 nanoseconds of the last access, modification and status change. The
 * host's device, inode and owner numbers are not sent.
 *
 * IDENTITY, SEAL_KEY and EVIDENCE are answered by the backend, not the host
 * dispatcher: their layouts are in identity/identity_exits.h.
 */
#ifndef ASYLO_COMMON_BUILTINS_H
#define ASYLO_COMMON_BUILTINS_H

#define ASYLO__MAX_LOG_LINE_SIZE 4096

#endif

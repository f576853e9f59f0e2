/* For the Wine smoke test only, never shipped: Wine 8.0 has no bcryptprimitives.dll, whose
 * ProcessPrng Rust's std (1.78 and later) imports; Windows 10 and later have it. This stand-in
 * forwards to advapi32's SystemFunction036 (RtlGenRandom). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

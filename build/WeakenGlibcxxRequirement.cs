using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>Marks one symbol-version requirement of an ELF64 library weak when the system libstdc++ lacks it.</summary>
public class WeakenGlibcxxRequirement : Task
{
    [Required] public string Library { get; set; }
    [Required] public string VersionName { get; set; }

    private static readonly string[] SystemLibraries =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string systemLibrary = null;
        foreach (var candidate in SystemLibraries)
        {
            if (File.Exists(candidate)) { systemLibrary = candidate; break; }
        }
        if (systemLibrary == null || !File.Exists(Library)) return true;
        if (Contains(File.ReadAllBytes(systemLibrary), Encoding.ASCII.GetBytes(VersionName + "\0"))) return true;

        byte[] elf = File.ReadAllBytes(Library);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
        {
            Log.LogWarning("{0} is not a little-endian ELF64 file; left unchanged", Library);
            return true;
        }
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        bool changed = false;
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)(shoff + (long)i * shentsize));
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            long need = BitConverter.ToInt64(elf, sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, sh + 0x2C);
            long strtab = BitConverter.ToInt64(elf, checked((int)(shoff + (long)link * shentsize + 0x18)));
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    int nameStart = checked((int)(strtab + BitConverter.ToUInt32(elf, (int)aux + 8)));
                    int nameEnd = nameStart;
                    while (elf[nameEnd] != 0) nameEnd++;
                    if (Encoding.ASCII.GetString(elf, nameStart, nameEnd - nameStart) == VersionName)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & 0x2) == 0)
                        {
                            flags |= 0x2; // VER_FLG_WEAK
                            elf[aux + 4] = (byte)flags;
                            elf[aux + 5] = (byte)(flags >> 8);
                            changed = true;
                        }
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
        }
        if (changed)
        {
            string temp = Library + ".weakening";
            File.WriteAllBytes(temp, elf);
            File.Copy(temp, Library, true);
            File.Delete(temp);
            Log.LogMessage(MessageImportance.High, "Marked {0} weak in {1}: {2} lacks it", VersionName, Library, systemLibrary);
        }
        return true;
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}

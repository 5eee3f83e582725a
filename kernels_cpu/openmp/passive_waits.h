// How oneDNN's OpenMP team waits between parallel regions. libgomp's idle threads spin for about
// 300,000 iterations by default; alisa alternates oneDNN calls with TBB kernels, so on a loaded
// machine the spinning team took the cores from the threads that had work (docs/RELIABILITY.md,
// "Steady on a shared machine"). This small shared library makes the waits passive (idle threads
// sleep at once) unless the user's environment chose: OMP_WAIT_POLICY or GOMP_SPINCOUNT set.
//
// libgomp reads its environment once, in its own ELF constructor, before main; and libc's start-up
// resets the environment after a .preinit_array function, so neither main nor a preinit hook can
// set it. This library's constructor runs after libc's and before libgomp's because it is loaded
// after libgomp (the loader initialises later-loaded libraries first): CMake links it right after
// OpenMP, and tests/kernels_cpu/test_openmp_waits.cpp checks that libgomp saw the setting.
#pragma once

extern "C" {

// 1 where this library set OMP_WAIT_POLICY=PASSIVE, 0 where the environment had chosen already.
int alisa_openmp_waits_passive_by_default();

// Removes the variable again where this library set it, so that child processes (the FlexGen
// peer, the plotter) see the user's environment: libgomp has read it by then. Call once, from main
// or a module's initialisation, while no other thread reads the environment.
void alisa_openmp_waits_restore_environment();

}  // extern "C"

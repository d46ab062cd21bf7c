#[=======================================================================[.rst:
TierunExperiment
----------------

Turns a tierun experiment plan into CTest tests that share one global limit
of agent slots. ``find_package(tierun)``, ``add_subdirectory`` of tierun's
source tree and ``FetchContent_MakeAvailable(tierun)`` all make this module's
command available; no ``CMAKE_MODULE_PATH`` step is needed.

.. command:: tierun_add_experiment

  Registers one test per tier (or per run) of a plan, and a report test::

    tierun_add_experiment(NAME <name> PLAN <file>
                          [PER tier|run]
                          [SLOTS <n>]
                          [SLOTS_PER_TEST <n>]
                          [RESOURCE_TYPE <type>]
                          [RESULTS_DIR <dir>]
                          [WORKING_DIRECTORY <dir>]
                          [IGNORE_RUN_FAILURES]
                          [TIERUN_ARGS <arg>...]
                          [PROPERTIES <name> <value>...])

  The tests are discovered when ``ctest`` reads the build tree (as
  ``gtest_discover_tests(... DISCOVERY_MODE PRE_TEST)`` does): ctest runs
  ``tierun list`` on the plan, so an edited plan needs no re-configure and
  ``tierun`` may be built in the same project. Each test runs
  ``tierun run <plan> --tiers <id>`` (or ``--runs <tier>/<subtest>/<run>``)
  and all of them write into one results directory, which tierun resumes: a
  run already reported is not run again.

  ``NAME <name>``
    Prefix of the test names, ``[A-Za-z0-9_.-]+``: ``<name>.T0`` ... and
    ``<name>.report``. Unique among experiments.

  ``PLAN <file>``
    The tierun plan (TOML), relative to ``CMAKE_CURRENT_SOURCE_DIR``.

  ``PER tier|run``
    ``tier`` (the default): one test per tier, ``<name>.<tier>``; a tier's
    ``depends_on`` becomes ``DEPENDS`` on those tiers' tests (order only, as
    in ``tierun run``). ``run``: one test per run,
    ``<name>.<tier>/<subtest>/<run>``, so CTest and CDash show every run; a
    run depends on every run of its tier's dependencies.

  ``SLOTS <n>``
    The global limit: at most ``<n>`` agents of this experiment (and of every
    other experiment with the same ``RESOURCE_TYPE``) run at once under any
    ``ctest -j``. Default: the number of logical CPUs. The module writes a
    resource spec of ``<n>`` slots to ``${CMAKE_BINARY_DIR}/tierun-resources.json``
    and sets ``CTEST_RESOURCE_SPEC_FILE`` in the calling scope, so a plain
    ``ctest -j16`` keeps the limit with no extra flag. When
    ``CTEST_RESOURCE_SPEC_FILE`` is already set, that spec is kept, and it
    must have a ``<type>`` resource of enough slots. ctest reads
    ``CTEST_RESOURCE_SPEC_FILE`` from 3.18 on; with CMake 3.16 and 3.17 run
    ``ctest --resource-spec-file <build>/tierun-resources.json`` (the module
    warns). ctest hands out the slots among its own tests only, so each test
    also runs ``tierun run --experiment-slots <n>``: every agent holds one of
    ``<n>`` files ``<results>/.<name>.slots/slot.K`` (flock; freed by the
    kernel however its holder ends), and two or three ``ctest -j16 -R ...``
    at once on one build tree still run at most ``<n>`` agents of the
    experiment. Across ctest processes the limit is per experiment: two
    experiments of one ``RESOURCE_TYPE`` share ``<n>`` only within one ctest.

  ``SLOTS_PER_TEST <n>``
    At most ``<n>`` of the slots go to one tier test. Each tier test asks
    ctest for ``min(<n>, runs in the tier)`` slots, as
    ``RESOURCE_GROUPS "<k>,<type>:1"`` (one group per agent), and
    ``tierun run`` runs at most the slots ctest gave it. Default: an even
    share, ``SLOTS`` divided by the number of tiers without ``depends_on``
    (rounded up), so independent tiers run side by side as they do in one
    ``tierun run``; ``SLOTS_PER_TEST <SLOTS>`` lets one tier use them all. A
    per-run test asks for one slot.

  ``RESOURCE_TYPE <type>``
    The CTest resource type, ``^[a-z_][a-z0-9_]*$`` (ctest silently ignores
    other names). Default: ``agents``.

  ``RESULTS_DIR <dir>``
    Where results go: ``<dir>/<experiment name>/``, a relative ``<dir>``
    being relative to ``CMAKE_CURRENT_BINARY_DIR``. Default:
    ``${CMAKE_CURRENT_BINARY_DIR}/tierun-results``. Every test of the
    experiment writes there and tierun resumes it: a second ``ctest`` runs
    only what is missing, and a run that failed stays recorded (remove its
    ``run_NN`` directory, or the whole results directory, to run it again;
    ``ctest --rerun-failed`` alone does not). After an edit of the plan, the
    tests fail with what changed until the old results are moved away.

  ``WORKING_DIRECTORY <dir>``
    Where the tests run, so the relative agent commands of the plan resolve.
    Default: ``CMAKE_CURRENT_SOURCE_DIR``.

  ``IGNORE_RUN_FAILURES``
    A tier test passes once every run is recorded, even when runs failed. By
    default it fails when a run of it failed (``tierun run --fail-on-failure``).

  ``TIERUN_ARGS <arg>...``
    More arguments for ``tierun run``, e.g. ``--grace 10``. ``--tiers``,
    ``--runs``, ``--results``, ``--resource-type``, ``--experiment-slots``
    and ``--fresh`` belong to the module and are refused: ``--fresh`` in one
    test would move the others' results aside.

  ``PROPERTIES <name> <value>...``
    Test properties set on every tier or run test, e.g. ``TIMEOUT 3600`` or
    ``LABELS "eval;nightly"`` (the report test gets the ``LABELS`` too).
    Generator expressions are evaluated, as in ``add_test()``. From CMake
    3.27 a ``TIMEOUT`` ends a test with SIGTERM and 30 s of grace, so tierun
    stops its agents and writes the reports of what finished.

  The report test ``<name>.report`` runs ``tierun report`` on the results
  directory after every other test of the experiment, whether they passed or
  not (it is the ``FIXTURES_CLEANUP`` of fixture ``tierun.<name>``, which all
  of them require), so ``ctest -R <name>.T0`` also rebuilds the report.
  ``DEPENDS`` only orders tests: ``ctest -R <name>.T5`` runs T5 alone, its
  dependencies taken as done, as ``tierun run --tiers T5`` does.

  Errors at configure time: a missing ``NAME`` or ``PLAN``, a keyword
  without its value or with an empty one (``SLOTS "${N}"`` with ``N``
  unset: ``SLOTS needs a value, got ''``), a plan file that does not exist, an unknown keyword, a
  ``PER`` other than ``tier`` or ``run``, a ``SLOTS`` or ``SLOTS_PER_TEST``
  that is not a positive integer (or more than ``SLOTS``), a bad
  ``RESOURCE_TYPE``, the same type with two slot counts, ``PROPERTIES``
  that are not pairs, a ``NAME`` used twice, or a refused ``TIERUN_ARGS``
  flag. A plan that tierun rejects becomes one failing test, ``<name>.plan``,
  whose output is tierun's message (file, line, expected).
#]=======================================================================]

include_guard(GLOBAL)
# The functions below keep these policies, whatever the including project's.
cmake_policy(PUSH)
cmake_policy(VERSION 3.16)
if(POLICY CMP0174)
  # An empty value is a value (CMake >= 3.31): no warning before our error.
  cmake_policy(SET CMP0174 NEW)
endif()

# Where TierunAddTests.cmake lives, for the include files generated below
# (CMAKE_CURRENT_FUNCTION_LIST_DIR would need CMake 3.17).
set_property(GLOBAL PROPERTY _TIERUN_MODULE_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(_tierun_fail name message)
  message(FATAL_ERROR "tierun_add_experiment(${name}): ${message}")
endfunction()

# Writes `value` as a bracket argument, which keeps ';', '$' and quotes as
# they are when the generated file is read again.
function(_tierun_bracket out value)
  set(equals "=")
  while("${value}]" MATCHES "]${equals}]")
    string(APPEND equals "=")
  endwhile()
  set(${out} "[${equals}[${value}]${equals}]" PARENT_SCOPE)
endfunction()

function(_tierun_check_keywords name)
  if(arg_UNPARSED_ARGUMENTS)
    _tierun_fail("${name}" "unknown argument(s): ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(arg_KEYWORDS_MISSING_VALUES)
    list(GET arg_KEYWORDS_MISSING_VALUES 0 keyword)
    _tierun_fail("${name}" "${keyword} needs a value, got none")
  endif()
  if(NOT DEFINED arg_NAME OR arg_NAME STREQUAL "")
    _tierun_fail("" "NAME <name> is required")
  endif()
  if(NOT arg_NAME MATCHES "^[A-Za-z0-9_.-]+$")
    _tierun_fail("${name}" "NAME must match [A-Za-z0-9_.-]+")
  endif()
  if(NOT DEFINED arg_PLAN OR arg_PLAN STREQUAL "")
    _tierun_fail("${name}" "PLAN <file> is required")
  endif()
  if(NOT arg_PER MATCHES "^(tier|run)$")
    _tierun_fail("${name}" "PER must be 'tier' or 'run', got '${arg_PER}'")
  endif()
  list(LENGTH arg_PROPERTIES count)
  math(EXPR odd "${count} % 2")
  if(odd)
    _tierun_fail("${name}" "PROPERTIES needs <name> <value> pairs, got: ${arg_PROPERTIES}")
  endif()
endfunction()

function(_tierun_check_values name)
  foreach(keyword SLOTS SLOTS_PER_TEST)
    if(DEFINED arg_${keyword} AND NOT arg_${keyword} MATCHES "^[1-9][0-9]*$")
      _tierun_fail("${name}" "${keyword} must be a positive integer, got '${arg_${keyword}}'")
    endif()
  endforeach()
  if(DEFINED arg_SLOTS_PER_TEST AND arg_SLOTS_PER_TEST GREATER arg_SLOTS)
    _tierun_fail("${name}"
      "SLOTS_PER_TEST ${arg_SLOTS_PER_TEST} is more than SLOTS ${arg_SLOTS}: ctest would never run such a test")
  endif()
  if(NOT arg_RESOURCE_TYPE MATCHES "^[a-z_][a-z0-9_]*$")
    _tierun_fail("${name}"
      "RESOURCE_TYPE '${arg_RESOURCE_TYPE}' is not a CTest resource type (^[a-z_][a-z0-9_]*$)")
  endif()
  foreach(word IN LISTS arg_TIERUN_ARGS)
    if(word MATCHES "^--(tiers|runs|results|fresh|resource-type|experiment-slots)(=|$)")
      _tierun_fail("${name}" "TIERUN_ARGS must not contain '${word}': the module sets it per test")
    endif()
  endforeach()
  get_property(known GLOBAL PROPERTY _TIERUN_EXPERIMENTS)
  if(name IN_LIST known)
    _tierun_fail("${name}" "an experiment of this NAME was already added")
  endif()
  if(NOT TARGET tierun::tierun)
    _tierun_fail("${name}"
      "no target tierun::tierun; call find_package(tierun) or add_subdirectory(<tierun>) first")
  endif()
endfunction()

# Writes the resource spec of every type registered so far, and points
# CTEST_RESOURCE_SPEC_FILE (in the caller's caller) at it unless the project
# has a spec of its own.
function(_tierun_write_resource_spec name type slots)
  get_property(types GLOBAL PROPERTY _TIERUN_RESOURCE_TYPES)
  get_property(spec GLOBAL PROPERTY _TIERUN_RESOURCE_SPEC)
  if(type IN_LIST types)
    get_property(known GLOBAL PROPERTY _TIERUN_SLOTS_${type})
    if(NOT known EQUAL slots)
      _tierun_fail("${name}"
        "RESOURCE_TYPE ${type} already has ${known} SLOTS from another experiment, not ${slots}; "
        "one type is one limit")
    endif()
  else()
    set_property(GLOBAL APPEND PROPERTY _TIERUN_RESOURCE_TYPES "${type}")
    set_property(GLOBAL PROPERTY _TIERUN_SLOTS_${type} "${slots}")
    list(APPEND types "${type}")
  endif()
  set(entries "")
  foreach(each IN LISTS types)
    get_property(each_slots GLOBAL PROPERTY _TIERUN_SLOTS_${each})
    list(APPEND entries "\"${each}\": [{\"id\": \"local\", \"slots\": ${each_slots}}]")
  endforeach()
  string(REPLACE ";" ", " entries "${entries}")
  set(spec "${CMAKE_BINARY_DIR}/tierun-resources.json")
  file(WRITE "${spec}"
    "{\"version\": {\"major\": 1, \"minor\": 0}, \"local\": [{${entries}}]}\n")
  set_property(GLOBAL PROPERTY _TIERUN_RESOURCE_SPEC "${spec}")
  set(_tierun_spec "${spec}" PARENT_SCOPE)
endfunction()

# Writes the elements of list `list_name` as bracket arguments, one after
# another. (Passing the list by name keeps an element's escaped ';'.)
function(_tierun_bracket_all out list_name)
  set(text "")
  foreach(word IN LISTS ${list_name})
    _tierun_bracket(quoted "${word}")
    string(APPEND text " ${quoted}")
  endforeach()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# The functions the generated file defines to apply PROPERTIES to every
# tier or run test (written out literally, so LABELS "a;b" stays one value)
# and their LABELS to the report test, so `ctest -L`/`-LE` keeps them together.
function(_tierun_property_functions out)
  set(all "")
  set(labels "")
  if(arg_PROPERTIES)
    _tierun_bracket_all(words arg_PROPERTIES)
    set(all "  set_tests_properties(\"\${test}\" PROPERTIES${words})\n")
    # Names and values alternate; foreach keeps a value's escaped ';'.
    set(is_name TRUE)
    set(name "")
    foreach(word IN LISTS arg_PROPERTIES)
      if(NOT is_name AND name STREQUAL "LABELS")
        _tierun_bracket(value "${word}")
        set(labels "  set_tests_properties(\"\${test}\" PROPERTIES LABELS ${value})\n")
      endif()
      if(is_name)
        set(name "${word}")
        set(is_name FALSE)
      else()
        set(is_name TRUE)
      endif()
    endforeach()
  endif()
  set(${out} "function(_tierun_apply_user_properties test)\n${all}endfunction()\n\
function(_tierun_apply_report_labels test)\n${labels}endfunction()\n" PARENT_SCOPE)
endfunction()

# The file ctest includes when it reads the build tree: it loads
# TierunAddTests.cmake and calls it with this experiment's settings.
# Generator expressions are evaluated, as in add_test().
function(_tierun_write_include_file name file spec)
  get_property(module_dir GLOBAL PROPERTY _TIERUN_MODULE_DIR)
  _tierun_property_functions(functions)
  _tierun_bracket_all(arguments arg_TIERUN_ARGS)
  set(fail_on_failure "--fail-on-failure")
  if(arg_IGNORE_RUN_FAILURES)
    set(fail_on_failure "")
  endif()
  set(use_spec "")
  if(spec)
    # Also here: a CTEST_RESOURCE_SPEC_FILE set in a caller's function scope
    # never reaches CTestTestfile.cmake.
    set(use_spec "if(NOT DEFINED CTEST_RESOURCE_SPEC_FILE)\n\
  set(CTEST_RESOURCE_SPEC_FILE [==[${spec}]==])\nendif()\n")
  endif()
  file(GENERATE OUTPUT "${file}" CONTENT
"# Generated by tierun_add_experiment(${name}); ctest includes it.
${use_spec}include([==[${module_dir}/TierunAddTests.cmake]==])
${functions}_tierun_add_tests(
  NAME [==[${name}]==]
  TIERUN [==[$<TARGET_FILE:tierun::tierun>]==]
  PLAN [==[${plan}]==]
  PER ${arg_PER}
  SLOTS ${arg_SLOTS}
  SLOTS_PER_TEST ${arg_SLOTS_PER_TEST}
  RESOURCE_TYPE ${arg_RESOURCE_TYPE}
  RESULTS_DIR [==[${results_dir}]==]
  WORKING_DIRECTORY [==[${working_directory}]==]
  TIERUN_ARGS ${fail_on_failure}${arguments})
")
endfunction()

# Registers the include file with ctest (one per configuration for a
# multi-config generator, where the tierun executable differs).
function(_tierun_register_include_file name spec)
  get_property(multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
  set(base "${CMAKE_CURRENT_BINARY_DIR}/tierun_${name}")
  if(multi_config)
    _tierun_write_include_file("${name}" "${base}_$<CONFIG>.cmake" "${spec}")
    file(WRITE "${base}_include.cmake"
      "include([==[${base}_\${CTEST_CONFIGURATION_TYPE}.cmake]==] OPTIONAL RESULT_VARIABLE found)\n"
      "if(NOT found)\n"
      "  add_test([==[${name}.NOT_CONFIGURED]==] [==[${name}.NOT_CONFIGURED]==])\n"
      "endif()\n")
  else()
    _tierun_write_include_file("${name}" "${base}.cmake" "${spec}")
    file(WRITE "${base}_include.cmake" "include([==[${base}.cmake]==])\n")
  endif()
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${base}_include.cmake")
endfunction()

# Absolute paths of PLAN, RESULTS_DIR and WORKING_DIRECTORY, in the caller.
macro(_tierun_resolve_paths name)
  get_filename_component(plan "${arg_PLAN}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${plan}" OR IS_DIRECTORY "${plan}")
    _tierun_fail("${name}" "PLAN file not found: ${plan}")
  endif()
  set(results_dir "${CMAKE_CURRENT_BINARY_DIR}/tierun-results")
  if(DEFINED arg_RESULTS_DIR)
    get_filename_component(results_dir "${arg_RESULTS_DIR}" ABSOLUTE
      BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(working_directory "${CMAKE_CURRENT_SOURCE_DIR}")
  if(DEFINED arg_WORKING_DIRECTORY)
    get_filename_component(working_directory "${arg_WORKING_DIRECTORY}" ABSOLUTE
      BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  endif()
endmacro()

function(tierun_add_experiment)
  set(single NAME PLAN PER SLOTS SLOTS_PER_TEST RESOURCE_TYPE RESULTS_DIR WORKING_DIRECTORY)
  cmake_parse_arguments(PARSE_ARGV 0 arg "IGNORE_RUN_FAILURES" "${single}" "TIERUN_ARGS;PROPERTIES")
  # Before CMake 3.31, cmake_parse_arguments drops an empty value as if the
  # keyword were not there: `SLOTS "${N}"` with N unset would configure
  # with the default, silently. So look at the words as given: a keyword of
  # one value followed by an empty word is an error, quoted or not.
  set(index 1)
  while(index LESS ARGC)
    math(EXPR before "${index} - 1")
    if("${ARGV${index}}" STREQUAL "" AND "${ARGV${before}}" IN_LIST single)
      _tierun_fail("${arg_NAME}" "${ARGV${before}} needs a value, got ''")
    endif()
    math(EXPR index "${index} + 1")
  endwhile()
  if(NOT DEFINED arg_PER)
    set(arg_PER tier)
  endif()
  if(NOT DEFINED arg_SLOTS)
    cmake_host_system_information(RESULT arg_SLOTS QUERY NUMBER_OF_LOGICAL_CORES)
  endif()
  if(NOT DEFINED arg_RESOURCE_TYPE)
    set(arg_RESOURCE_TYPE agents)
  endif()
  _tierun_check_keywords("${arg_NAME}")
  set(name "${arg_NAME}")
  _tierun_check_values("${name}")
  _tierun_resolve_paths("${name}")
  set_property(GLOBAL APPEND PROPERTY _TIERUN_EXPERIMENTS "${name}")

  _tierun_write_resource_spec("${name}" "${arg_RESOURCE_TYPE}" "${arg_SLOTS}")
  set(spec "")
  if(NOT DEFINED CTEST_RESOURCE_SPEC_FILE OR CTEST_RESOURCE_SPEC_FILE STREQUAL _tierun_spec)
    set(spec "${_tierun_spec}")
    set(CTEST_RESOURCE_SPEC_FILE "${spec}" PARENT_SCOPE)
    if(CMAKE_VERSION VERSION_LESS 3.18)
      message(WARNING "tierun_add_experiment(${name}): ctest ${CMAKE_VERSION} ignores "
        "CTEST_RESOURCE_SPEC_FILE; run ctest --resource-spec-file ${spec} "
        "or the agents are not limited to ${arg_SLOTS}")
    endif()
  else()
    message(STATUS "tierun_add_experiment(${name}): keeping CTEST_RESOURCE_SPEC_FILE "
      "${CTEST_RESOURCE_SPEC_FILE}; it needs a '${arg_RESOURCE_TYPE}' resource of "
      "${arg_SLOTS} slots")
  endif()
  _tierun_register_include_file("${name}" "${spec}")
endfunction()

cmake_policy(POP)

# Run by ctest, not by cmake: the include file that tierun_add_experiment()
# generates calls _tierun_add_tests() each time ctest reads the build tree.
# It asks `tierun list` for the plan's tiers and runs and registers one test
# per tier (or per run) and the report test. Uses only commands that ctest
# 3.16 knows in a CTestTestfile.

# ctest reads this with no policy set; the functions keep the policies of
# their definition (CMP0054: "tier" in if() is a string, not a variable).
cmake_policy(PUSH)
cmake_policy(VERSION 3.16)

# `tierun list` prints, one per line:
#   experiment <name> <results directory>
#   tier <id> <runs> <depends_on, comma-separated, or ->
#   run <tier>/<subtest>/<run>
function(_tierun_read_plan lines)
  set(tiers "")
  set(runs "")
  foreach(line IN LISTS lines)
    string(REPLACE " " ";" words "${line}")
    list(GET words 0 kind)
    if(kind STREQUAL "experiment")
      # The directory is the rest of the line: it may hold blanks.
      string(REGEX REPLACE "^experiment [^ ]+ " "" directory "${line}")
      set(experiment_dir "${directory}" PARENT_SCOPE)
    elseif(kind STREQUAL "tier")
      list(GET words 1 tier)
      list(GET words 2 count)
      list(GET words 3 depends)
      list(APPEND tiers "${tier}")
      set(tier_runs_${tier} "${count}" PARENT_SCOPE)
      if(depends STREQUAL "-")
        set(depends "")
      endif()
      string(REPLACE "," ";" depends "${depends}")
      set(tier_depends_${tier} "${depends}" PARENT_SCOPE)
    elseif(kind STREQUAL "run")
      list(GET words 1 run)
      list(APPEND runs "${run}")
      string(REGEX REPLACE "/.*" "" tier "${run}")
      list(APPEND tier_run_list_${tier} "${run}")
      set(tier_run_list_${tier} "${tier_run_list_${tier}}" PARENT_SCOPE)
    endif()
  endforeach()
  set(tiers "${tiers}" PARENT_SCOPE)
  set(runs "${runs}" PARENT_SCOPE)
endfunction()

# One test running tierun on `selection` (--tiers T0 or --runs T0/s/1),
# given `slots` agent slots by ctest.
function(_tierun_add_run_test test selection slots depends)
  # ctest hands out SLOTS among its own tests only; --experiment-slots keeps
  # the limit when several ctest processes run the experiment at once.
  add_test("${test}" "${arg_TIERUN}" run "${arg_PLAN}" ${selection}
    --results "${arg_RESULTS_DIR}" --resource-type "${arg_RESOURCE_TYPE}"
    --experiment-slots "${arg_SLOTS}" ${arg_TIERUN_ARGS})
  set_tests_properties("${test}" PROPERTIES
    WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}"
    RESOURCE_GROUPS "${slots},${arg_RESOURCE_TYPE}:1"
    FIXTURES_REQUIRED "tierun.${arg_NAME}")
  if(depends)
    set_tests_properties("${test}" PROPERTIES DEPENDS "${depends}")
  endif()
  if(NOT CMAKE_VERSION VERSION_LESS 3.27)
    # On TIMEOUT, SIGTERM first: tierun stops its agents and writes the
    # reports of what finished (SIGKILL, the default, would lose that).
    set_tests_properties("${test}" PROPERTIES
      TIMEOUT_SIGNAL_NAME SIGTERM TIMEOUT_SIGNAL_GRACE_PERIOD 30)
  endif()
  _tierun_apply_user_properties("${test}")
endfunction()

# Default SLOTS_PER_TEST: an even share of SLOTS for each tier that can
# start at once (no depends_on), so independent tiers run side by side as in
# one `tierun run`, rather than each tier test waiting for all the slots.
function(_tierun_default_slots_per_test out)
  set(roots 0)
  foreach(tier IN LISTS tiers)
    if(NOT tier_depends_${tier})
      math(EXPR roots "${roots} + 1")
    endif()
  endforeach()
  if(roots LESS 1)
    set(roots 1)
  endif()
  math(EXPR share "(${arg_SLOTS} + ${roots} - 1) / ${roots}")
  set(${out} "${share}" PARENT_SCOPE)
endfunction()

function(_tierun_add_tier_tests)
  if(NOT arg_SLOTS_PER_TEST)
    _tierun_default_slots_per_test(arg_SLOTS_PER_TEST)
  endif()
  set(all "")
  foreach(tier IN LISTS tiers)
    set(depends "")
    foreach(dependency IN LISTS tier_depends_${tier})
      list(APPEND depends "${arg_NAME}.${dependency}")
    endforeach()
    set(slots "${tier_runs_${tier}}")
    if(slots GREATER arg_SLOTS_PER_TEST)
      set(slots "${arg_SLOTS_PER_TEST}")
    endif()
    _tierun_add_run_test("${arg_NAME}.${tier}" "--tiers;${tier}" "${slots}" "${depends}")
    list(APPEND all "${arg_NAME}.${tier}")
  endforeach()
  set(all "${all}" PARENT_SCOPE)
endfunction()

function(_tierun_add_per_run_tests)
  set(all "")
  foreach(tier IN LISTS tiers)
    set(depends "")
    foreach(dependency IN LISTS tier_depends_${tier})
      foreach(run IN LISTS tier_run_list_${dependency})
        list(APPEND depends "${arg_NAME}.${run}")
      endforeach()
    endforeach()
    foreach(run IN LISTS tier_run_list_${tier})
      _tierun_add_run_test("${arg_NAME}.${run}" "--runs;${run}" 1 "${depends}")
      list(APPEND all "${arg_NAME}.${run}")
    endforeach()
  endforeach()
  set(all "${all}" PARENT_SCOPE)
endfunction()

function(_tierun_add_tests)
  cmake_parse_arguments(PARSE_ARGV 0 arg ""
    "NAME;TIERUN;PLAN;PER;SLOTS;SLOTS_PER_TEST;RESOURCE_TYPE;RESULTS_DIR;WORKING_DIRECTORY"
    "TIERUN_ARGS")
  if(NOT EXISTS "${arg_TIERUN}")
    # As gtest_discover_tests does for an executable not built yet.
    add_test("${arg_NAME}.NOT_BUILT" "${arg_NAME}.NOT_BUILT")
    return()
  endif()
  set(list_command "${arg_TIERUN}" list "${arg_PLAN}" --results "${arg_RESULTS_DIR}")
  execute_process(COMMAND ${list_command}
    WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}"
    RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  if(NOT status EQUAL 0)
    # The plan is wrong: one failing test shows tierun's message.
    add_test("${arg_NAME}.plan" ${list_command})
    set_tests_properties("${arg_NAME}.plan" PROPERTIES
      WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
    return()
  endif()
  string(STRIP "${output}" output)
  string(REPLACE "\n" ";" lines "${output}")
  _tierun_read_plan("${lines}")
  if(arg_PER STREQUAL "run")
    _tierun_add_per_run_tests()
  else()
    _tierun_add_tier_tests()
  endif()

  set(report "${arg_NAME}.report")
  add_test("${report}" "${arg_TIERUN}" report "${experiment_dir}")
  set_tests_properties("${report}" PROPERTIES
    WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}"
    FIXTURES_CLEANUP "tierun.${arg_NAME}"
    DEPENDS "${all}")
  _tierun_apply_report_labels("${report}")
endfunction()

cmake_policy(POP)

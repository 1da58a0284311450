// The whole public API.
#pragma once
#include <proletariat/client.hpp>
#include <proletariat/curve.hpp>
#include <proletariat/error.hpp>
#include <proletariat/job.hpp>
#include <proletariat/logging.hpp>
#include <proletariat/manager.hpp>
#include <proletariat/version.hpp>
#include <proletariat/worker.hpp>

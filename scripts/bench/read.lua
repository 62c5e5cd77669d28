counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/fhir/R4/Patient/read-" .. (counter % 1000))
end
